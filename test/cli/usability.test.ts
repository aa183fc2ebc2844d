import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SEED, seedIntel } from '../fake/hosts.js';
import { buildHost, tempTreeDir, type FakeHost } from '../fake/tree.js';
import { runCtl } from '../helpers/run.js';

const hosts: FakeHost[] = [];
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup();
});
async function host(config?: string): Promise<FakeHost> {
  const h = await buildHost(tempTreeDir(), seedIntel());
  hosts.push(h);
  if (config !== undefined) {
    mkdirSync(join(h.root, 'etc/pcie-passthroughd'), { recursive: true });
    writeFileSync(join(h.root, 'etc/pcie-passthroughd/config.toml'), config);
  }
  return h;
}

describe('the CLI as a new user meets it (fake kernel)', () => {
  it('an explicit --config that does not exist is an error (exit 2, "no such file"); the default path may be absent', async () => {
    const h = await host();
    const named = await runCtl(['--root', h.root, '--config', '/etc/pcie-passthroughd/typo.toml', 'plan'], h.env);
    expect(named.code).toBe(2);
    expect(named.stderr).toMatch(/--config \/etc\/pcie-passthroughd\/typo\.toml: no such file/);
    const absent = await runCtl(['--root', h.root, 'plan'], h.env);
    expect(absent.code).toBe(0);
    expect(absent.stdout).toMatch(/^Config: \/etc\/pcie-passthroughd\/config\.toml \(absent: no devices configured\)$/m);
  });

  it('list and plan say which config file they read (text and --json)', async () => {
    const h = await host(`[[device]]\naddress = "${SEED.gpu}"\n`);
    const list = await runCtl(['--root', h.root, 'list'], h.env);
    expect(list.stdout.split('\n').slice(0, 2)).toEqual([
      expect.stringMatching(/^IOMMU on \(intel-vt-d, \d+ groups\), interrupt remapping: enabled$/),
      'Config: /etc/pcie-passthroughd/config.toml (1 entry)',
    ]);
    const json = JSON.parse((await runCtl(['--root', h.root, 'list', '--json'], h.env)).stdout) as { configPath: string; configError: null; iommu: { enabled: boolean } };
    expect(json.configPath).toBe('/etc/pcie-passthroughd/config.toml');
    expect(json.configError).toBeNull();
    expect(json.iommu.enabled).toBe(true);
    expect(JSON.parse((await runCtl(['--root', h.root, 'plan', '--json'], h.env)).stdout).configPath).toBe('/etc/pcie-passthroughd/config.toml');
  });

  it('list with a broken config still shows the table and the error, exit 2; --json returns a document with the error', async () => {
    const h = await host(`[[device]]\naddres = "${SEED.gpu}"\n`);
    const text = await runCtl(['--root', h.root, 'list'], h.env);
    expect(text.code).toBe(2);
    expect(text.stdout).toContain(SEED.gpu);
    expect(text.stdout).toMatch(/^Config: .*INVALID/m);
    expect(text.stderr).toMatch(/config\.toml:2:1: /);
    const json = await runCtl(['--root', h.root, 'list', '--json'], h.env);
    expect(json.code).toBe(2);
    const doc = JSON.parse(json.stdout) as { configError: string; devices: { address: string }[] };
    expect(doc.configError).toMatch(/config\.toml:2:1: /);
    expect(doc.devices.map((d) => d.address)).toContain(SEED.gpu);
  });

  it('an id that matches no device is a warning and exit 1, like an address with no device', async () => {
    const h = await host(`[[device]]\nid = "1234:5678"\n`);
    const list = await runCtl(['--root', h.root, 'list'], h.env);
    expect(list.code).toBe(1);
    expect(list.stderr).toMatch(/^warning: .*1234:5678/m);
    const plan = await runCtl(['--root', h.root, 'plan'], h.env);
    expect(plan.code).toBe(1);
    const missing = await host(`[[device]]\naddress = "0000:09:00.0"\n`);
    expect((await runCtl(['--root', missing.root, 'list'], missing.env)).code).toBe(1);
  });

  it('per-command help (plan --help, help plan), short usage errors with a hint, --root that does not exist', async () => {
    const a = await runCtl(['plan', '--help']);
    const b = await runCtl(['help', 'plan']);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/^Usage: pcie-passthroughctl plan/);
    expect(b.stdout).toBe(a.stdout);
    expect((await runCtl(['help', 'status'])).stdout).toMatch(/--nagios/);
    const unknown = await runCtl(['--bogus', 'list']);
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toBe("pcie-passthroughctl: unknown option --bogus\nTry 'pcie-passthroughctl --help'.\n");
    const noValue = await runCtl(['list', '--root']);
    expect(noValue.stderr).toBe("pcie-passthroughctl: option --root needs a value\nTry 'pcie-passthroughctl --help'.\n");
    const cmd = await runCtl(['frobnicate']);
    expect(cmd.stderr.split('\n')).toHaveLength(3);
    expect(cmd.stderr).toMatch(/^pcie-passthroughctl: unknown command "frobnicate"$/m);
    const root = await runCtl(['--root', '/nonexistent/tree', 'list']);
    expect(root.code).toBe(64);
    expect(root.stderr).toMatch(/--root \/nonexistent\/tree: no such directory/);
  });

  it('check has a header over its first column', async () => {
    const h = await host();
    const r = await runCtl(['--root', h.root, 'check'], h.env);
    expect(r.stdout.split('\n')[1]).toMatch(/^STATUS +CHECK +RESULT$/);
  });
});
