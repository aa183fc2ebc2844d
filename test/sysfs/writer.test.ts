import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readPci } from '../../src/sysfs/read.js';
import { SysfsWriteError, createSysfsWriter, writeInChild } from '../../src/sysfs/writer.js';
import { NOIOMMU, SEED, SHARED, SRIOV, hangingUnbind, noIommu, seedIntel, sharedGroup, sriovHost, vfioMissing } from '../fake/hosts.js';
import { buildHost, tempTreeDir, useHost, type FakeHost, type HostSpec } from '../fake/tree.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

async function setup(spec: HostSpec) {
  const host = await buildHost(tempTreeDir(), spec);
  cleanups.push(() => host.cleanup());
  cleanups.push(useHost(host));
  return { host, writer: createSysfsWriter(host.root) };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(SysfsWriteError);
    return (err as SysfsWriteError).code;
  }
  return 'resolved';
}

/** Writes in-process through the shim, as a tool writing sysfs directly would; returns the errno name or 'ok'. */
function writeAttr(path: string, value: string): string {
  try {
    writeFileSync(path, value);
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'unknown';
  }
}

const override = (host: FakeHost, address: string) => readFileSync(join(host.deviceDir(address), 'driver_override'), 'utf8');
const isVfio = (driver: string | null) => driver === 'vfio-pci';

describe('binding a device the way the daemon does', () => {
  it('loads vfio-pci, sets the override, unbinds the host driver, probes and reads vfio-pci back', async () => {
    const { host, writer } = await setup(seedIntel());
    expect(await writer.driverRegistered('vfio-pci')).toBe(false);
    await writer.loadModule('vfio-pci', 10_000);
    expect(await writer.driverRegistered('vfio-pci')).toBe(true);
    expect(readFileSync(join(host.root, 'proc/modules'), 'utf8')).toMatch(/^vfio_pci /m);

    await writer.setOverride(SEED.gpu, 'vfio-pci');
    expect(override(host, SEED.gpu)).toBe('vfio-pci\n');
    expect(await writer.currentDriver(SEED.gpu)).toBe('nvidia'); // the override alone unbinds nothing
    await writer.unbind(SEED.gpu, 'nvidia', 10_000);
    expect(await writer.currentDriver(SEED.gpu)).toBeNull();
    await writer.probe(SEED.gpu, 10_000);
    expect(await writer.waitForDriver(SEED.gpu, isVfio, 2_000)).toBe('vfio-pci');

    const snap = await readPci(host.root);
    const gpu = snap.devices.find((d) => d.address === SEED.gpu);
    expect(gpu).toMatchObject({ driver: 'vfio-pci', driverOverride: 'vfio-pci' });
    // One function may be bound alone; the group's vfio node appears with the first bound function.
    expect(snap.devices.find((d) => d.address === SEED.gpuAudio)?.driver).toBe('snd_hda_intel');
    expect(existsSync(join(host.root, 'dev/vfio/1'))).toBe(true);
    expect(readFileSync(join(host.deviceDir(SEED.gpu), 'enable'), 'utf8')).toBe('0\n');
  });

  it('releases: clearing the override is what lets the host driver come back', async () => {
    const { host, writer } = await setup(seedIntel());
    await writer.loadModule('vfio-pci', 10_000);
    await writer.setOverride(SEED.gpu, 'vfio-pci');
    await writer.unbind(SEED.gpu, 'nvidia', 10_000);
    await writer.probe(SEED.gpu, 10_000);

    // Override still set: unbind + probe lands on vfio-pci again.
    await writer.unbind(SEED.gpu, 'vfio-pci', 10_000);
    await writer.probe(SEED.gpu, 10_000);
    expect(await writer.currentDriver(SEED.gpu)).toBe('vfio-pci');

    await writer.clearOverride(SEED.gpu);
    expect(override(host, SEED.gpu)).toBe('(null)\n');
    await writer.unbind(SEED.gpu, 'vfio-pci', 10_000);
    expect(existsSync(join(host.root, 'dev/vfio/1'))).toBe(false);
    await writer.probe(SEED.gpu, 10_000);
    expect(await writer.waitForDriver(SEED.gpu, (d) => d !== null, 2_000)).toBe('nvidia');
  });

  it('an override set before vfio-pci is loaded: probe succeeds but nothing binds; modprobe then claims the device', async () => {
    const { writer } = await setup(seedIntel());
    await writer.setOverride(SEED.spareNic, 'vfio-pci');
    await writer.unbind(SEED.spareNic, 'igb', 10_000);
    await writer.probe(SEED.spareNic, 10_000);
    expect(await writer.waitForDriver(SEED.spareNic, isVfio, 100)).toBeNull();
    await writer.loadModule('vfio-pci', 10_000);
    expect(await writer.currentDriver(SEED.spareNic)).toBe('vfio-pci');
    // Other driverless devices without an override stay as they were.
    expect(await writer.currentDriver(SEED.hostBridge)).toBeNull();
  });
});

describe('kernel errors keep their errno name', () => {
  it('unbind from a driver the device is not bound to → ENODEV; driver/unbind of an unbound device → ENOENT', async () => {
    const { host, writer } = await setup(seedIntel());
    expect(await codeOf(writer.unbind(SEED.gpu, 'snd_hda_intel', 10_000))).toBe('ENODEV');
    expect(await codeOf(writer.unbind('0000:09:00.0', 'nvidia', 10_000))).toBe('ENODEV');
    expect(await codeOf(writeInChild(join(host.deviceDir(SEED.hostBridge), 'driver/unbind'), SEED.hostBridge, 10_000))).toBe('ENOENT');
    expect(await writer.currentDriver(SEED.gpu)).toBe('nvidia');
  });

  it('drivers_probe: unknown address or garbage → ENODEV, a bound device → success and no change', async () => {
    const { writer } = await setup(seedIntel());
    expect(await codeOf(writer.probe('0000:0f:00.0', 10_000))).toBe('ENODEV');
    expect(await codeOf(writer.probe('not-an-address', 10_000))).toBe('ENODEV');
    await writer.probe(SEED.gpu, 10_000);
    expect(await writer.currentDriver(SEED.gpu)).toBe('nvidia');
  });

  it('driver_override: any name accepted, "\\n" clears, zero-length write changes nothing, 5000 bytes → EINVAL', async () => {
    const { host, writer } = await setup(seedIntel());
    await writer.setOverride(SEED.gpu, 'no-such-driver');
    expect(override(host, SEED.gpu)).toBe('no-such-driver\n');
    expect(writeAttr(join(host.deviceDir(SEED.gpu), 'driver_override'), '')).toBe('ok');
    expect(override(host, SEED.gpu)).toBe('no-such-driver\n');
    expect(await codeOf(writer.setOverride(SEED.gpu, 'x'.repeat(5000)))).toBe('EINVAL');
    await writer.clearOverride(SEED.gpu);
    expect(override(host, SEED.gpu)).toBe('(null)\n');
    expect(writeAttr(join(host.deviceDir(SEED.gpu), 'driver_override'), 'vfio-pci')).toBe('ok');
    expect(override(host, SEED.gpu)).toBe('vfio-pci\n');
  });

  it('drivers/<d>/bind: bound → EBUSY, missing → ENODEV, override names another driver → ENODEV, driver not loaded → ENOENT', async () => {
    const { host } = await setup(seedIntel());
    const bind = (driver: string) => join(host.root, 'sys/bus/pci/drivers', driver, 'bind');
    expect(writeAttr(bind('nvidia'), SEED.gpu)).toBe('EBUSY');
    expect(writeAttr(bind('nvidia'), '0000:0e:00.0')).toBe('ENODEV');
    expect(writeAttr(bind('vfio-pci'), SEED.gpu)).toBe('ENOENT');
    expect(writeAttr(join(host.root, 'sys/bus/pci/drivers/igb/unbind'), SEED.spareNic)).toBe('ok');
    expect(writeAttr(join(host.deviceDir(SEED.spareNic), 'driver_override'), 'vfio-pci\n')).toBe('ok');
    expect(writeAttr(bind('igb'), SEED.spareNic)).toBe('ENODEV');
    expect(writeAttr(join(host.deviceDir(SEED.spareNic), 'driver_override'), '\n')).toBe('ok');
    expect(writeAttr(bind('igb'), SEED.spareNic)).toBe('ok');
    expect(readFileSync(join(host.deviceDir(SEED.spareNic), 'enable'), 'utf8')).toBe('1\n');
  });

  it('IOMMU off: vfio-pci loads, probe succeeds silently leaving the device unbound, bind → EINVAL', async () => {
    const { host, writer } = await setup(noIommu());
    await writer.loadModule('vfio-pci', 10_000);
    await writer.setOverride(NOIOMMU.gpu, 'vfio-pci');
    await writer.unbind(NOIOMMU.gpu, 'nvidia', 10_000);
    await writer.probe(NOIOMMU.gpu, 10_000);
    expect(await writer.waitForDriver(NOIOMMU.gpu, isVfio, 100)).toBeNull();
    expect(writeAttr(join(host.root, 'sys/bus/pci/drivers/vfio-pci/bind'), NOIOMMU.gpu)).toBe('EINVAL');
  });

  it('vfio-pci refuses bridges (EINVAL) and a PF with VFs enabled (EBUSY)', async () => {
    const shared = await setup(sharedGroup());
    await shared.writer.loadModule('vfio-pci', 10_000);
    await shared.writer.setOverride(SHARED.bridge, 'vfio-pci');
    await shared.writer.probe(SHARED.bridge, 10_000);
    expect(await shared.writer.currentDriver(SHARED.bridge)).toBeNull();
    expect(writeAttr(join(shared.host.root, 'sys/bus/pci/drivers/vfio-pci/bind'), SHARED.bridge)).toBe('EINVAL');

    const sriov = await setup(sriovHost());
    await sriov.writer.loadModule('vfio-pci', 10_000);
    await sriov.writer.setOverride(SRIOV.pf, 'vfio-pci');
    await sriov.writer.unbind(SRIOV.pf, 'igb', 10_000);
    expect(writeAttr(join(sriov.host.root, 'sys/bus/pci/drivers/vfio-pci/bind'), SRIOV.pf)).toBe('EBUSY');
    // A VF binds fine.
    await sriov.writer.setOverride(SRIOV.vf0, 'vfio-pci');
    await sriov.writer.unbind(SRIOV.vf0, 'igbvf', 10_000);
    await sriov.writer.probe(SRIOV.vf0, 10_000);
    expect(await sriov.writer.currentDriver(SRIOV.vf0)).toBe('vfio-pci');
  });

  it('modprobe of a module that is not installed fails with its message', async () => {
    const { writer } = await setup(vfioMissing());
    const error = await writer.loadModule('vfio-pci', 10_000).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(SysfsWriteError);
    expect((error as SysfsWriteError).code).toBe('EMODPROBE');
    expect((error as SysfsWriteError).message).toContain('Module vfio-pci not found');
    expect(await writer.driverRegistered('vfio-pci')).toBe(false);
  });

  it('a hot-removed device reads as missing and probing it → ENODEV', async () => {
    const { host, writer } = await setup(seedIntel());
    host.removeDevice(SEED.spareNic);
    expect(await writer.currentDriver(SEED.spareNic)).toBe('missing');
    expect(await writer.waitForDriver(SEED.spareNic, isVfio, 1_000)).toBe('missing');
    expect(await codeOf(writer.probe(SEED.spareNic, 10_000))).toBe('ENODEV');
    expect(existsSync(join(host.root, 'sys/bus/pci/drivers/igb', SEED.spareNic))).toBe(false);
    host.addDevice({ address: SEED.spareNic, parent: SEED.spareNicRootPort, vendor: 0x8086, device: 0x1533, classCode: 0x020000, driver: null, group: 8 });
    await writer.probe(SEED.spareNic, 10_000);
    expect(await writer.currentDriver(SEED.spareNic)).toBe('igb');
  });
});

describe('a hung unbind', () => {
  it('is abandoned after the timeout with ETIMEDOUT while the event loop keeps running', async () => {
    const { writer } = await setup(hangingUnbind());
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 20);
    try {
      const error = await writer.unbind(SEED.gpu, 'nvidia', 1_500).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(SysfsWriteError);
      expect((error as SysfsWriteError).code).toBe('ETIMEDOUT');
      expect((error as SysfsWriteError).message).toContain('hung for 1.5s');
      expect((error as SysfsWriteError).path).toMatch(/drivers\/nvidia\/unbind$/);
    } finally {
      clearInterval(ticker);
    }
    expect(ticks).toBeGreaterThan(0);
    // The daemon can still read state and write elsewhere afterwards.
    expect(await writer.currentDriver(SEED.gpu)).toBe('nvidia');
    await writer.probe(SEED.spareNic, 10_000);
  });
});
