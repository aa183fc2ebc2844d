import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit.js';
import type { CliOptions } from '../../src/cli/main.js';
import { runSetup } from '../../src/cli/setup.js';
import type { FakeHost } from '../fake/tree.js';
import { BUNDLE_NODE, CTL } from '../helpers/run.js';
import { amdWithAmdIommuOn, buildSetupHost, DEBIAN_GRUB } from './hosts.js';

const hosts: FakeHost[] = [];
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup();
});

async function host(): Promise<FakeHost> {
  const { spec, overrides } = amdWithAmdIommuOn();
  const h = await buildSetupHost(spec, overrides);
  hosts.push(h);
  return h;
}

async function setupAnswering(h: FakeHost, answer: boolean): Promise<{ code: number; out: string; asked: string[] }> {
  let out = '';
  const asked: string[] = [];
  const opts: CliOptions = { root: h.root, config: '/etc/pcie-passthroughd/config.toml', json: false, bus: 'system', nagios: false };
  const code = await runSetup(opts, { dryRun: false, yes: false, iommuPt: false }, (s) => (out += `${s}\n`), (s) => (out += `${s}\n`), (q) => {
    asked.push(q);
    return Promise.resolve(answer);
  });
  return { code, out, asked };
}

describe('pcie-passthroughctl setup asks on a terminal', () => {
  it('after the diff, "y" applies the changes', async () => {
    const h = await host();
    const r = await setupAnswering(h, true);
    expect(r.asked).toEqual(['Apply these changes? [y/N] ']);
    expect(r.code).toBe(EXIT.ok);
    expect(r.out.indexOf('--- /etc/default/grub')).toBeLessThan(r.out.indexOf('Wrote /etc/default/grub'));
    expect(readFileSync(join(h.root, 'etc/default/grub'), 'utf8')).toBe(DEBIAN_GRUB('quiet iommu=pt'));
  });

  it('anything else applies nothing, exit 1', async () => {
    const h = await host();
    const r = await setupAnswering(h, false);
    expect(r.code).toBe(EXIT.warning);
    expect(r.out).toContain('\nNot applied.\n');
    expect(readFileSync(join(h.root, 'etc/default/grub'), 'utf8')).toBe(DEBIAN_GRUB('quiet amd_iommu=on iommu=pt'));
    expect(existsSync(join(h.root, 'etc/default/grub.pcie-passthroughd.bak'))).toBe(false);
  });

  it('refuses to change anything unless run as root (77), before reading a file', async () => {
    const run = promisify(execFile);
    const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', BUNDLE_NODE, CTL, 'setup', '--yes']).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    expect(r.code).toBe(EXIT.noPermission);
    expect(r.stderr).toBe('pcie-passthroughctl: setup edits files in /etc and needs root (try sudo, or --dry-run to only show the changes)\n');
  });
});
