import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AMD, SEED, amdHost, seedIntel } from '../fake/hosts.js';
import { buildHost, tempTreeDir, useHost, type FakeHost, type HostSpec } from '../fake/tree.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

async function build(spec: HostSpec): Promise<FakeHost> {
  const host = await buildHost(tempTreeDir(), spec);
  cleanups.push(() => host.cleanup());
  return host;
}

describe('the fake kernel', () => {
  it('applies in a child started with host.env only (how the CLI bundle runs against it)', async () => {
    const host = await build(seedIntel());
    const script = `require('fs').writeFileSync(process.argv[1], process.argv[2])`;
    const unbind = join(host.root, 'sys/bus/pci/drivers/igb/unbind');
    execFileSync(process.execPath, ['-e', script, unbind, SEED.spareNic], { env: { ...process.env, ...host.env } });
    expect(() => readlinkSync(join(host.deviceDir(SEED.spareNic), 'driver'))).toThrow();
    const again = spawnSync(process.execPath, ['-e', script, unbind, SEED.spareNic], { env: { ...process.env, ...host.env }, encoding: 'utf8' });
    expect(again.status).not.toBe(0);
    expect(again.stderr).toContain('ENODEV');
  });

  it('lets ordinary files in the tree be written normally', async () => {
    const host = await build(seedIntel());
    cleanups.push(useHost(host));
    writeFileSync(join(host.root, 'proc/cmdline'), 'quiet\n');
    expect(readFileSync(join(host.root, 'proc/cmdline'), 'utf8')).toBe('quiet\n');
  });

  it('stores driver_override up to the first newline', async () => {
    const host = await build(seedIntel());
    cleanups.push(useHost(host));
    writeFileSync(join(host.root, 'sys/bus/pci/devices', SEED.gpu, 'driver_override'), 'vfio-pci\nrest');
    expect(readFileSync(join(host.deviceDir(SEED.gpu), 'driver_override'), 'utf8')).toBe('vfio-pci\n');
  });

  it('new_id binds unbound matching devices and refuses a repeat with EEXIST', async () => {
    const host = await build(seedIntel());
    cleanups.push(useHost(host));
    execFileSync('modprobe', ['vfio-pci'], { env: process.env });
    writeFileSync(join(host.root, 'sys/bus/pci/drivers/igb/unbind'), SEED.spareNic);
    writeFileSync(join(host.root, 'sys/bus/pci/drivers/vfio-pci/new_id'), '8086 1533');
    expect(readlinkSync(join(host.deviceDir(SEED.spareNic), 'driver'))).toMatch(/\/vfio-pci$/);
    expect(readlinkSync(join(host.deviceDir(SEED.nic), 'driver'))).toMatch(/\/igb$/); // bound devices are left alone
    expect(() => writeFileSync(join(host.root, 'sys/bus/pci/drivers/vfio-pci/new_id'), '8086 1533')).toThrow(/EEXIST/);
  });

  it('modprobe: an already loaded module is a no-op; names with _ or - are the same module', async () => {
    const host = await build(amdHost());
    cleanups.push(useHost(host));
    const modules = readFileSync(join(host.root, 'proc/modules'), 'utf8');
    execFileSync('modprobe', ['-q', 'vfio_pci'], { env: process.env });
    expect(readFileSync(join(host.root, 'proc/modules'), 'utf8')).toBe(modules);
    expect(readlinkSync(join(host.deviceDir(AMD.gpu), 'driver'))).toMatch(/\/vfio-pci$/);
    const missing = spawnSync('modprobe', ['nouveau'], { env: process.env, encoding: 'utf8' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('Module nouveau not found in directory /lib/modules/6.8.12-4-pve');
  });

  it('builds relative links with the right depth, as the kernel does', async () => {
    const host = await build(seedIntel());
    expect(readlinkSync(join(host.root, 'sys/bus/pci/devices', SEED.gpu))).toBe('../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0');
    expect(readlinkSync(join(host.deviceDir(SEED.gpu), 'iommu_group'))).toBe('../../../../kernel/iommu_groups/1');
    expect(readlinkSync(join(host.deviceDir(SEED.gpu), 'driver'))).toBe('../../../../bus/pci/drivers/nvidia');
    expect(readlinkSync(join(host.root, 'sys/class/iommu/dmar0'))).toBe('../../devices/virtual/iommu/dmar0');
    const amd = await build(amdHost());
    expect(readlinkSync(join(amd.root, 'sys/class/iommu/ivhd0'))).toBe('../../devices/pci0000:00/0000:00:00.2/iommu/ivhd0');
    const config = readFileSync(join(host.deviceDir(SEED.gpu), 'config'));
    expect(config.length).toBe(4096);
    expect(config[0x0e]).toBe(0x80); // endpoint, multifunction slot
  });
});
