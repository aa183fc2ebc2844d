/**
 * Issue 11, item 4: an unbind that hangs holds the device lock (fake kernel: device_lock), so reading that
 * device's driver_override blocks in the kernel. The daemon reads such attributes off the main thread,
 * bounded: it publishes "unbind hung", keeps answering D-Bus, and SIGTERM ends it — all while the lock
 * is still held.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { busctl } from '../dbus/clients.js';
import { hangingUnbind, SEED } from '../fake/hosts.js';
import { buildHost, tempTreeDir, type FakeHost } from '../fake/tree.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { startPrivateBus, type PrivateBus } from '../helpers/private-bus.js';

const kernel = createRequire(import.meta.url)('../fake/kernel.cjs') as { releaseDeviceLock(tree: string, address: string): void };
const POLICY = join(process.cwd(), 'data/dbus/org.pciepassthroughd.conf');
const NAME = 'org.pciepassthroughd';
const GPU_PATH = `/org/pciepassthroughd/devices/pci_${SEED.gpu.replace(/[:.]/g, '_')}`;

let host: FakeHost;
let bus: PrivateBus;
let daemon: RunningDaemon | null = null;

beforeEach(async () => {
  host = await buildHost(tempTreeDir(), hangingUnbind());
  bus = await startPrivateBus({ policyFiles: [POLICY] });
});

afterEach(async () => {
  // The driver's remove() returns at last: every task blocked on the lock finishes.
  kernel.releaseDeviceLock(host.root, SEED.gpu);
  await daemon?.stop('SIGKILL');
  daemon = null;
  await bus.stop();
  host.cleanup();
});

const get = (path: string, iface: string, ...props: string[]) => busctl(bus.address, ['get-property', NAME, path, iface, ...props]);

it('while an unbind hangs holding the device lock: D-Bus answers, "unbind hung" is published, SIGTERM ends the daemon', async () => {
  const d = startDaemon(host, bus.address);
  daemon = d;
  await d.waitForLog((l) => l.msg === 'ready');
  mkdirSync(join(host.root, 'etc/pcie-passthroughd'), { recursive: true });
  writeFileSync(join(host.root, 'etc/pcie-passthroughd/config.toml'), `[[device]]\naddress = "${SEED.gpu}"\n`);
  await d.waitForLog((l) => l.msg.startsWith('reconcile: config change'));
  // The unbind is hanging now (its timeout is 10 s): the daemon still answers.
  const during = await get('/org/pciepassthroughd', 'org.pciepassthroughd.Manager1', 'State');
  expect(during.exitCode, during.stderr).toBe(0);
  // After the unbind timed out, the rescan does not block on the held lock: the result is published.
  await d.waitForLog((l) => l.msg.startsWith(`${SEED.gpu}:`) && /hung/.test(l.msg), 40_000);
  let state = '';
  for (let i = 0; i < 100 && !/failed/.test(state); i++) {
    state = (await get(GPU_PATH, 'org.pciepassthroughd.Device1', 'State', 'Reason')).stdout;
    if (!/failed/.test(state)) await new Promise((r) => setTimeout(r, 200));
  }
  expect(state).toMatch(/s "failed"\ns ".*hung/);
  // Plan() (a fresh observation) answers too, and so does a second reconcile, lock still held.
  const plan = await busctl(bus.address, ['call', NAME, '/org/pciepassthroughd', 'org.pciepassthroughd.Manager1', 'Plan']);
  expect(plan.exitCode, plan.stderr).toBe(0);
  expect(await d.stop('SIGTERM')).toBe(0);
}, 90_000);
