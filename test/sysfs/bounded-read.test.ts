/**
 * Issue 11, item 4: attributes whose show() takes the device lock are read off the main thread and
 * bounded. The fake kernel models device_lock: while it is held, reading driver_override blocks.
 */
import { createRequire } from 'node:module';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createLockedReader, type LockedReader } from '../../src/sysfs/bounded-read.js';
import { readPci } from '../../src/sysfs/read.js';
import { SEED, seedIntel } from '../fake/hosts.js';
import { buildHost, tempTreeDir, type FakeHost } from '../fake/tree.js';

const kernel = createRequire(import.meta.url)('../fake/kernel.cjs') as {
  holdDeviceLock(tree: string, address: string): void;
  releaseDeviceLock(tree: string, address: string): void;
};

let host: FakeHost;
let reader: LockedReader;

beforeEach(async () => {
  host = await buildHost(tempTreeDir(), seedIntel());
  reader = createLockedReader({ timeoutMs: 500, env: { ...process.env, ...host.env } });
});

afterEach(() => {
  kernel.releaseDeviceLock(host.root, SEED.gpu);
  reader.stop();
  host.cleanup();
});

it('a device whose lock is held is reported held, the others are read, and the scan returns', async () => {
  kernel.holdDeviceLock(host.root, SEED.gpu);
  const snap = await readPci(host.root, { locked: reader, lastKnown: (a) => (a === SEED.gpu ? { driverOverride: 'vfio-pci', sriovNumVfs: null } : undefined) });
  expect(Object.keys(snap.unreadable ?? {})).toEqual([SEED.gpu]);
  expect(snap.unreadable?.[SEED.gpu]).toMatch(/reading its driver_override did not return within 0\.5 s: the kernel holds its device lock/);
  // Last known value for the held device; the real value for the rest.
  expect(snap.devices.find((d) => d.address === SEED.gpu)?.driverOverride).toBe('vfio-pci');
  expect(snap.devices.filter((d) => d.address !== SEED.gpu).every((d) => d.driverOverride === null)).toBe(true);
  expect(snap.devices.map((d) => d.address)).toContain(SEED.lpc);
});

it('once the lock is released (and the abandoned read returned), the device is read again', async () => {
  kernel.holdDeviceLock(host.root, SEED.gpu);
  expect((await readPci(host.root, { locked: reader })).unreadable).toBeDefined();
  kernel.releaseDeviceLock(host.root, SEED.gpu);
  await new Promise((r) => setTimeout(r, 200)); // the killed reader's exit is seen
  const again = await readPci(host.root, { locked: reader });
  expect(again.unreadable).toBeUndefined();
});

it('without a lock held the bounded scan equals the plain one', async () => {
  const plain = await readPci(host.root);
  const bounded = await readPci(host.root, { locked: reader });
  expect(bounded).toEqual(plain);
});
