/**
 * Issue 11, item 4: an unbind that hangs holds the device lock (fake kernel: device_lock), so reading that
 * device's driver_override blocks in the kernel. The daemon reads such attributes off the main thread,
 * bounded: it publishes "unbind hung", keeps answering D-Bus, and SIGTERM ends it — all while the lock
 * is still held.
 */
import { createRequire } from 'node:module';
import { expect, it } from 'vitest';
import { busctl } from '../dbus/clients.js';
import { hangingUnbind, SEED } from '../fake/hosts.js';
import { devPath, NAME, useDaemonFixture } from '../helpers/daemon-fixture.js';

const kernel = createRequire(import.meta.url)('../fake/kernel.cjs') as { releaseDeviceLock(tree: string, address: string): void };
const GPU_PATH = devPath(SEED.gpu);

const fx = useDaemonFixture({
  seed: hangingUnbind,
  // The driver's remove() returns at last: every task blocked on the lock finishes.
  beforeStop: (host) => kernel.releaseDeviceLock(host.root, SEED.gpu),
});

const get = (path: string, iface: string, ...props: string[]) => busctl(fx.bus.address, ['get-property', NAME, path, iface, ...props]);

it('while an unbind hangs holding the device lock: D-Bus answers, "unbind hung" is published, SIGTERM ends the daemon', async () => {
  const d = await fx.started();
  fx.writeConfig(`[[device]]\naddress = "${SEED.gpu}"\n`);
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
  const plan = await busctl(fx.bus.address, ['call', NAME, '/org/pciepassthroughd', 'org.pciepassthroughd.Manager1', 'Plan']);
  expect(plan.exitCode, plan.stderr).toBe(0);
  expect(await d.stop('SIGTERM')).toBe(0);
}, 90_000);
