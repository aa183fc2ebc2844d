/**
 * Issue 11, item 7: `pcie-passthroughctl apply` while the daemon runs. On a bus the daemon answers,
 * apply asks it (Manager1.Reconcile) and acts on nothing itself; when no daemon answers it acts, under
 * the lock the daemon takes too, re-reading state.json under it. So neither writer acts on a stale view
 * (no second unbind of a device) nor forgets a device the other bound (a later config drop releases it).
 */
import { existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { SEED, seedIntel } from '../fake/hosts.js';
import { buildHost, tempTreeDir, type FakeHost } from '../fake/tree.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { startPrivateBus, type PrivateBus } from '../helpers/private-bus.js';
import { runCtl } from '../helpers/run.js';

const POLICY = join(process.cwd(), 'data/dbus/org.pciepassthroughd.conf');
const CONFIG = '/etc/pcie-passthroughd/config.toml';
const GPU_ONLY = `[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n`;
const GPU_AND_NIC = `${GPU_ONLY}\n[[device]]\naddress = "${SEED.spareNic}"\n`;

let host: FakeHost;
let bus: PrivateBus | null = null;
let daemon: RunningDaemon | null = null;

beforeEach(async () => {
  host = await buildHost(tempTreeDir(), seedIntel());
});

afterEach(async () => {
  if (daemon) process.kill(daemon.child.pid!, 'SIGCONT');
  await daemon?.stop('SIGKILL');
  daemon = null;
  await bus?.stop();
  bus = null;
  host.cleanup();
});

function writeConfig(text: string): void {
  mkdirSync(join(host.root, 'etc/pcie-passthroughd'), { recursive: true });
  const tmp = join(host.root, 'etc/pcie-passthroughd/.config.toml.tmp');
  writeFileSync(tmp, text);
  renameSync(tmp, join(host.root, CONFIG));
}

const driverOf = (address: string): string | null => {
  try {
    return basename(readlinkSync(join(host.deviceDir(address), 'driver')));
  } catch {
    return null;
  }
};
const owned = (): string[] => Object.keys((JSON.parse(readFileSync(join(host.root, 'run/pcie-passthroughd/state.json'), 'utf8')) as { devices: object }).devices).sort();
const unbindsOf = (address: string): string[] => {
  const log = join(host.root, '.fake-kernel/unbinds.log');
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith(`${address} `)) : [];
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(ok: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not seen within ${ms} ms: ${what}`);
    await sleep(10);
  }
}

it('apply with the daemon on the bus asks it over D-Bus (Manager1.Reconcile) and says so; with none there it acts itself', async () => {
  writeConfig(GPU_AND_NIC);
  bus = await startPrivateBus({ policyFiles: [POLICY] });
  daemon = startDaemon(host, bus.address);
  await daemon.waitForLog((l) => l.msg === 'ready');
  expect(driverOf(SEED.spareNic)).toBe('vfio-pci');

  const text = await runCtl(['--root', host.root, '--bus', bus.address, 'apply'], host.env);
  expect(text.code, text.stderr).toBe(0);
  expect(text.stdout).toContain(`pcie-passthroughd is running: asked it to reconcile over D-Bus (Manager1.Reconcile; config ${CONFIG}).`);
  expect(text.stdout).toContain('Nothing to do.');
  await daemon.waitForLog((l) => l.msg === 'reconcile: dbus-reconcile');

  const json = await runCtl(['--root', host.root, '--bus', bus.address, 'apply', '--json'], host.env);
  expect(json.code, json.stderr).toBe(0);
  expect(JSON.parse(json.stdout)).toEqual({ via: 'daemon', configPath: CONFIG, configError: null, results: [] });

  // Another config file than the daemon's would be undone by it: refused, nothing done.
  writeFileSync(join(host.root, 'etc/pcie-passthroughd/other.toml'), GPU_ONLY);
  const other = await runCtl(['--root', host.root, '--bus', bus.address, '--config', '/etc/pcie-passthroughd/other.toml', 'apply'], host.env);
  expect(other.code).toBe(2);
  expect(other.stderr).toContain(`the running pcie-passthroughd applies ${CONFIG}, not /etc/pcie-passthroughd/other.toml`);
  expect(driverOf(SEED.spareNic)).toBe('vfio-pci');
  expect(unbindsOf(SEED.spareNic)).toHaveLength(1);

  // No daemon on the bus: apply does it, and says why.
  await daemon.stop();
  daemon = null;
  writeConfig(GPU_ONLY);
  const direct = await runCtl(['--root', host.root, '--bus', bus.address, 'apply', '--json'], host.env);
  expect(direct.code, direct.stderr).toBe(0);
  expect(direct.stderr).toContain('the daemon is not running');
  expect(direct.stderr).toContain('applying directly');
  const doc = JSON.parse(direct.stdout) as { via: string; results: { address: string; outcome: string }[] };
  expect(doc.via).toBe('direct');
  expect(doc.results).toEqual([expect.objectContaining({ address: SEED.spareNic, outcome: 'released' })]);
  expect(driverOf(SEED.spareNic)).toBe('igb');
}, 90_000);

it('a direct apply during the daemon\'s reconcile waits for its lock: the device is unbound once, and recorded', async () => {
  // The NIC driver's remove() takes 4 s (holding device_lock): the daemon's unbind is long enough to race.
  host.updateKernel((k) => { k.slowUnbind = { [SEED.spareNic]: 4000 }; });
  writeConfig(GPU_ONLY);
  daemon = startDaemon(host, 'none');
  await daemon.waitForLog((l) => l.msg === 'ready');
  writeConfig(GPU_AND_NIC);
  // The daemon is inside the unbind (the device lock is held): a direct apply now would see the NIC on igb.
  await until(() => existsSync(join(host.root, '.fake-kernel/device_lock', SEED.spareNic)), 'the daemon unbinding the NIC');
  const r = await runCtl(['--root', host.root, 'apply'], host.env);
  await daemon.waitForLog((l) => l.msg.startsWith(`${SEED.spareNic}: bound to vfio-pci`));
  expect(unbindsOf(SEED.spareNic)).toHaveLength(1);
  expect(driverOf(SEED.spareNic)).toBe('vfio-pci');
  expect(owned()).toEqual([SEED.gpu, SEED.gpuAudio, SEED.spareNic].sort());
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(r.stderr).toContain(`waiting for pcie-passthroughd (pid ${daemon.child.pid}) to finish acting on the devices`);
  expect(r.stdout).toContain('Nothing to do.');
  expect(existsSync(join(host.root, 'run/pcie-passthroughd/apply.lock'))).toBe(false);
}, 90_000);

it('a device a direct apply bound while the daemon ran is not forgotten by it: dropping it from the config releases it', async () => {
  writeConfig(GPU_ONLY);
  daemon = startDaemon(host, 'none');
  await daemon.waitForLog((l) => l.msg === 'ready');
  // Freeze the daemon (idle, lock not held) so the direct apply certainly goes first.
  process.kill(daemon.child.pid!, 'SIGSTOP');
  writeConfig(GPU_AND_NIC);
  const r = await runCtl(['--root', host.root, 'apply'], host.env);
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(r.stdout).toContain(`${SEED.spareNic}: bound to vfio-pci (was igb)`);
  expect(owned()).toContain(SEED.spareNic);
  process.kill(daemon.child.pid!, 'SIGCONT');
  // The daemon sees the same config change; the NIC is already where it wants it.
  await daemon.waitForLog((l) => l.msg.startsWith(`loaded ${CONFIG} (2 device entries)`));

  writeConfig(GPU_ONLY);
  await daemon.waitForLog((l) => l.msg.startsWith(`${SEED.spareNic}: returned to igb`), 20_000);
  expect(driverOf(SEED.spareNic)).toBe('igb');
  expect(owned()).toEqual([SEED.gpu, SEED.gpuAudio].sort());
  expect(unbindsOf(SEED.spareNic)).toHaveLength(2); // igb → vfio-pci by the CLI, vfio-pci → igb by the daemon
}, 90_000);
