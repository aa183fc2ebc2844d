import { readFileSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { applyActions, type ApplyTimeouts } from '../../src/apply/apply.js';
import { updateOwned } from '../../src/apply/owned.js';
import { createSysfsWriter } from '../../src/sysfs/writer.js';
import { hangingUnbind, SEED, seedIntel, vfioMissing } from '../fake/hosts.js';
import { buildHost, loadShim, tempTreeDir, type FakeHost, type HostSpec } from '../fake/tree.js';

const FAST: ApplyTimeouts = { unbindMs: 1500, probeMs: 5000, readBackMs: 1000, modprobeMs: 10_000 };
const hosts: FakeHost[] = [];
const savedEnv = { ...process.env };

beforeAll(() => loadShim());
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup();
  process.env = { ...savedEnv };
});

/** A fake host whose kernel semantics apply to this process; modprobe resolves to the fake one. */
async function host(spec: HostSpec): Promise<FakeHost> {
  const h = await buildHost(tempTreeDir(), spec);
  hosts.push(h);
  Object.assign(process.env, h.env);
  return h;
}

const driverOf = (h: FakeHost, a: string): string | null => {
  try {
    return basename(readlinkSync(join(h.deviceDir(a), 'driver')));
  } catch {
    return null;
  }
};

describe('applying actions against the fake kernel', () => {
  it('bind then release: override first, read back, override cleared with a newline, host driver back', async () => {
    const h = await host(seedIntel());
    const port = createSysfsWriter(h.root);
    const bound = await applyActions(port, [
      { kind: 'load-driver', driver: 'vfio-pci' },
      { kind: 'bind', address: SEED.spareNic, driver: 'vfio-pci', from: 'igb' },
    ], FAST);
    expect(bound.map((r) => r.outcome)).toEqual(['driver-loaded', 'bound']);
    expect(driverOf(h, SEED.spareNic)).toBe('vfio-pci');
    const owned = updateOwned({ devices: {} }, bound, new Date(0));
    expect(owned.devices[SEED.spareNic]).toEqual({ driver: 'vfio-pci', previousDriver: 'igb', since: '1970-01-01T00:00:00.000Z' });

    const released = await applyActions(port, [{ kind: 'release', address: SEED.spareNic, from: 'vfio-pci' }], FAST);
    expect(released[0]).toMatchObject({ outcome: 'released', message: `${SEED.spareNic}: returned to igb (was vfio-pci)` });
    expect(readFileSync(join(h.deviceDir(SEED.spareNic), 'driver_override'), 'utf8')).toBe('(null)\n');
    expect(updateOwned(owned, released, new Date(0)).devices).toEqual({});
  });

  it('an unbind that hangs is abandoned after the timeout, reported as stuck, and the rest of the plan goes on', async () => {
    const h = await host(hangingUnbind());
    const started = Date.now();
    const results = await applyActions(createSysfsWriter(h.root), [
      { kind: 'load-driver', driver: 'vfio-pci' },
      { kind: 'bind', address: SEED.gpu, driver: 'vfio-pci', from: 'nvidia' },
      { kind: 'bind', address: SEED.spareNic, driver: 'vfio-pci', from: 'igb' },
    ], FAST);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(results[1]).toMatchObject({ outcome: 'failed', errno: 'ETIMEDOUT', stuck: true });
    expect(results[1]?.message).toMatch(/unbind from nvidia hung for 1\.5 s; the host driver is busy/);
    expect(results[2]?.outcome).toBe('bound');
    expect(driverOf(h, SEED.spareNic)).toBe('vfio-pci');
  });

  it('a driver that cannot be loaded fails the binds that need it, with how to fix it', async () => {
    const h = await host(vfioMissing());
    const results = await applyActions(createSysfsWriter(h.root), [
      { kind: 'load-driver', driver: 'vfio-pci' },
      { kind: 'bind', address: SEED.spareNic, driver: 'vfio-pci', from: 'igb' },
    ], FAST);
    expect(results[0]?.outcome).toBe('failed');
    expect(results[0]?.message).toContain('/etc/modules-load.d/vfio-pci.conf');
    expect(results[1]).toMatchObject({ outcome: 'failed' });
    expect(results[1]?.message).toMatch(/not bound: modprobe vfio-pci failed/);
    expect(driverOf(h, SEED.spareNic)).toBe('igb'); // untouched: not even the override was written
    expect(readFileSync(join(h.deviceDir(SEED.spareNic), 'driver_override'), 'utf8')).toBe('(null)\n');
  });

  it('a device that vanished before its turn is reported as vanished, not as a crash', async () => {
    const h = await host(seedIntel());
    h.removeDevice(SEED.spareNic);
    const results = await applyActions(createSysfsWriter(h.root), [
      { kind: 'load-driver', driver: 'vfio-pci' },
      { kind: 'bind', address: SEED.spareNic, driver: 'vfio-pci', from: 'igb' },
    ], FAST);
    expect(results[1]?.outcome).toBe('vanished');
    expect(results[1]?.message).toMatch(new RegExp(`^${SEED.spareNic}: device vanished`));
  });

  it('binds what is there now, not what the plan saw: a host driver that claimed the device meanwhile is unbound', async () => {
    const h = await host(seedIntel());
    // The plan saw the hot-added NIC unbound; udev's module autoload gave it to igb before our write.
    const results = await applyActions(createSysfsWriter(h.root), [
      { kind: 'load-driver', driver: 'vfio-pci' },
      { kind: 'bind', address: SEED.spareNic, driver: 'vfio-pci', from: null },
    ], FAST);
    expect(results[1]).toMatchObject({ outcome: 'bound', previousDriver: 'igb' });
    expect(driverOf(h, SEED.spareNic)).toBe('vfio-pci');
  });
});
