import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { noIommu, SEED, seedIntel } from '../fake/hosts.js';
import { buildHost, tempTreeDir, type FakeHost } from '../fake/tree.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { startPrivateBus, type PrivateBus } from '../helpers/private-bus.js';
import { runCtl } from '../helpers/run.js';

const POLICY = join(process.cwd(), 'data/dbus/org.pciepassthroughd.conf');
let host: FakeHost | null = null;
let bus: PrivateBus;
let daemon: RunningDaemon | null = null;

beforeEach(async () => {
  bus = await startPrivateBus({ policyFiles: [POLICY] });
});
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = null;
  await bus.stop();
  host?.cleanup();
  host = null;
});

async function onHost(config: string, spec = seedIntel()): Promise<FakeHost> {
  host = await buildHost(tempTreeDir(), spec);
  writeConfig(config);
  return host;
}
function writeConfig(text: string): void {
  if (!host) throw new Error('no host');
  mkdirSync(join(host.root, 'etc/pcie-passthroughd'), { recursive: true });
  writeFileSync(join(host.root, 'etc/pcie-passthroughd/config.toml'), text);
}
async function started(): Promise<RunningDaemon> {
  if (!host) throw new Error('no host');
  daemon = startDaemon(host, bus.address);
  await daemon.waitForLog((l) => l.msg === 'ready');
  return daemon;
}
const nagios = async (): Promise<{ code: number | null; stdout: string; stderr: string }> => runCtl(['--root', host?.root ?? '/', '--bus', bus.address, 'status', '--nagios'], host?.env);

/** Nagios plugin output: "SERVICE STATUS - text | perfdata", one line. */
const PLUGIN_LINE = /^PCIE-PASSTHROUGH (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+( \| ([a-z_]+=\d+;;;0 ?)+)?\n$/;

describe('status --nagios (Nagios/Icinga plugin API) against the real daemon on a private bus', () => {
  it('OK 0: every configured device on vfio-pci, with perfdata', async () => {
    await onHost(`[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n`);
    await started();
    const r = await nagios();
    expect(r.stdout).toMatch(PLUGIN_LINE);
    expect(r.stdout).toMatch(/^PCIE-PASSTHROUGH OK - 2\/2 devices on vfio-pci \| managed=2;;;0 bound=2;;;0 pending=0;;;0 blocked=0;;;0 failed=0;;;0 missing=0;;;0 checks_warn=0;;;0 checks_fail=0;;;0 iommu_groups=\d+;;;0\n$/);
    expect(r.code).toBe(0);
  });

  it('WARNING 1: a configured device blocked (the root disk controller), named with its reason', async () => {
    await onHost(`[[device]]\naddress = "${SEED.spareNic}"\n\n[[device]]\naddress = "${SEED.sata}"\n`);
    await started();
    const r = await nagios();
    expect(r.stdout).toMatch(PLUGIN_LINE);
    expect(r.stdout).toMatch(new RegExp(`^PCIE-PASSTHROUGH WARNING - 1/2 devices on vfio-pci; ${SEED.sata} blocked \\(in use by the host`));
    expect(r.stdout).toContain('blocked=1;;;0');
    expect(r.code).toBe(1);
  });

  it('CRITICAL 2: the IOMMU off with devices configured; and a config error', async () => {
    await onHost(`[[device]]\naddress = "${SEED.gpu}"\n`, noIommu());
    await started();
    const off = await nagios();
    expect(off.stdout).toMatch(PLUGIN_LINE);
    expect(off.stdout).toMatch(/^PCIE-PASSTHROUGH CRITICAL - 0\/1 devices on vfio-pci; IOMMU is off/);
    expect(off.code).toBe(2);
    await daemon?.stop();

    await onHost(`[[device]]\naddress = "${SEED.spareNic}"\n`);
    await started();
    expect((await nagios()).code).toBe(0);
    writeConfig(`[[device]]\naddres = "${SEED.spareNic}"\n`);
    await daemon?.waitForLog((l) => /is invalid/.test(l.msg));
    const broken = await nagios();
    expect(broken.stdout).toMatch(PLUGIN_LINE);
    expect(broken.stdout).toMatch(/^PCIE-PASSTHROUGH CRITICAL - 1\/1 devices on vfio-pci; config error: \/etc\/pcie-passthroughd\/config\.toml:2:1: /);
    expect(broken.code).toBe(2);
  });

  it('UNKNOWN 3: the daemon is not running; the system bus not reachable', async () => {
    await onHost(`[[device]]\naddress = "${SEED.gpu}"\n`);
    const r = await nagios();
    expect(r.stdout).toMatch(/^PCIE-PASSTHROUGH UNKNOWN - the daemon is not running \(/);
    expect(r.stdout.split('\n')).toHaveLength(2);
    expect(r.code).toBe(3);
    const noBus = await runCtl(['--bus', 'unix:path=/nonexistent/bus', 'status', '--nagios']);
    expect(noBus.stdout).toMatch(/^PCIE-PASSTHROUGH UNKNOWN - the system bus is not reachable/);
    expect(noBus.code).toBe(3);
  });
});

describe('status without the daemon', () => {
  it('exits 3 and says the daemon is not running; --json keeps {manager, devices} and says it was read directly', async () => {
    await onHost(`[[device]]\naddress = "${SEED.spareNic}"\n`);
    const text = await runCtl(['--root', host?.root ?? '', '--bus', bus.address, 'status'], host?.env);
    expect(text.code).toBe(3);
    expect(text.stderr).toMatch(/^pcie-passthroughctl: the daemon is not running \(.*\); reading the devices directly/);
    expect(text.stdout).toMatch(/not running \(the daemon is not running\); read directly: degraded/);
    expect(text.stdout).toContain(`${SEED.spareNic}: bind to vfio-pci`);

    const json = await runCtl(['--root', host?.root ?? '', '--bus', bus.address, 'status', '--json'], host?.env);
    expect(json.code).toBe(3);
    const doc = JSON.parse(json.stdout) as { source: string; daemon: string; manager: { state: string; managedCount: number; configPath: string }; devices: { address: string; state: string }[] };
    expect(doc.source).toBe('direct');
    expect(doc.daemon).toBe('not-running');
    expect(doc.manager.managedCount).toBe(1);
    expect(doc.manager.configPath).toBe('/etc/pcie-passthroughd/config.toml');
    expect(doc.devices.find((d) => d.address === SEED.spareNic)?.state).toBe('pending');
  });

  it('exits 69 and says the system bus is not reachable when there is no bus', async () => {
    await onHost('');
    const r = await runCtl(['--root', host?.root ?? '', '--bus', 'unix:path=/nonexistent/bus', 'status', '--json'], host?.env);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/the system bus is not reachable/);
    expect(JSON.parse(r.stdout).daemon).toBe('bus-unreachable');
  });

  it('with the daemon running, --json has the same field names as list (camelCase, hex ids), source "daemon"', async () => {
    await onHost(`[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n`);
    await started();
    const status = JSON.parse((await runCtl(['--root', host?.root ?? '', '--bus', bus.address, 'status', '--json'], host?.env)).stdout) as { source: string; manager: Record<string, unknown>; devices: Record<string, unknown>[] };
    const list = JSON.parse((await runCtl(['--root', host?.root ?? '', 'list', '--json'], host?.env)).stdout) as { devices: Record<string, unknown>[] };
    expect(status.source).toBe('daemon');
    expect(status.manager.state).toBe('ready');
    expect(typeof status.manager.lastReconcile).toBe('string');
    const fromDaemon = status.devices.find((d) => d.address === SEED.gpu);
    const fromList = list.devices.find((d) => d.address === SEED.gpu);
    expect(Object.keys(fromDaemon ?? {}).sort()).toEqual(Object.keys(fromList ?? {}).sort());
    for (const k of ['vendorId', 'deviceId', 'class', 'driver', 'iommuGroup', 'state', 'vendorName', 'bridge']) expect(fromDaemon?.[k], k).toEqual(fromList?.[k]);
  });
});
