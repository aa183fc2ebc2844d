import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PciDevice } from '../../src/model.js';
import { readPci } from '../../src/sysfs/read.js';
import { AMD, NOIOMMU, SEED, SHARED, SRIOV, amdHost, noIommu, seedIntel, sharedGroup, sriovHost } from '../fake/hosts.js';
import { useFakeHosts } from '../helpers/fake-hosts.js';

const build = useFakeHosts();

function byAddress(devices: PciDevice[], address: string): PciDevice {
  const device = devices.find((d) => d.address === address);
  if (!device) throw new Error(`${address} not in snapshot`);
  return device;
}

describe('readPci on the seed Intel host', () => {
  it('reads ids, class, header type, driver, override and group of every device', async () => {
    const host = await build(seedIntel());
    const snap = await readPci(host.root);
    expect(snap.devices.map((d) => d.address)).toEqual(host.spec.devices.map((d) => d.address).sort());
    const gpu = byAddress(snap.devices, SEED.gpu);
    expect(gpu).toMatchObject({
      vendorId: 0x10de,
      deviceId: 0x0ffc,
      subsystemVendorId: 0x1028,
      subsystemDeviceId: 0x15cc,
      classCode: 0x030000,
      headerType: 0,
      driver: 'nvidia',
      driverOverride: null,
      iommuGroup: 1,
      bootVga: false,
      sriovNumVfs: null,
      physfn: null,
      slotSiblings: [SEED.gpuAudio],
      inUse: [],
      vendorName: 'NVIDIA Corporation',
      deviceName: 'GK107GLM [Quadro K1000M]',
    });
    expect(byAddress(snap.devices, SEED.gpuAudio).slotSiblings).toEqual([SEED.gpu]);
    expect(byAddress(snap.devices, SEED.gpuRootPort)).toMatchObject({ headerType: 1, driver: 'pcieport' });
    expect(byAddress(snap.devices, SEED.hostBridge)).toMatchObject({ headerType: 0, driver: null, classCode: 0x060000 });
  });

  it('lists groups with members, type, and registered drivers (vfio-pci not loaded yet)', async () => {
    const host = await build(seedIntel());
    const snap = await readPci(host.root);
    expect(snap.groups.find((g) => g.id === 1)).toEqual({ id: 1, devices: [SEED.gpuRootPort, SEED.gpu, SEED.gpuAudio], type: 'DMA-FQ', name: null });
    expect(snap.groups.map((g) => g.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(snap.drivers).toContain('nvidia');
    expect(snap.drivers).not.toContain('vfio-pci');
  });

  it('reports the disks, NICs and console the host uses, with sentences an admin understands', async () => {
    const host = await build(seedIntel());
    const snap = await readPci(host.root);
    expect(byAddress(snap.devices, SEED.sata).inUse).toEqual([
      { kind: 'mount', detail: 'sda2 mounted on /' },
      { kind: 'mount', detail: 'sda1 mounted on /boot/efi' },
      { kind: 'swap', detail: 'swap on sda3' },
    ]);
    // Native NVMe multipath: the disk sits under nvme-subsystem, not under the PCI device.
    expect(byAddress(snap.devices, SEED.nvme).inUse).toEqual([{ kind: 'mount', detail: 'nvme0n1p1 mounted on /home' }]);
    expect(byAddress(snap.devices, SEED.nic).inUse).toEqual([{ kind: 'netdev', detail: 'eno1 is up and carries the default route' }]);
    expect(byAddress(snap.devices, SEED.spareNic).inUse).toEqual([]);
    expect(byAddress(snap.devices, SEED.igpu).inUse).toEqual([{ kind: 'console', detail: 'boot VGA (host console)' }]);
    expect(byAddress(snap.devices, SEED.gpu).inUse).toEqual([]);
    // The root port above the NVMe disk is not itself reported: only the deepest device owns the disk.
    expect(byAddress(snap.devices, SEED.nvmeRootPort).inUse).toEqual([]);
  });

  it('reads an override the admin set, and sees a device appear and vanish between reads', async () => {
    const host = await build(seedIntel());
    writeFileSync(join(host.deviceDir(SEED.spareNic), 'driver_override'), 'vfio-pci\n');
    host.removeDevice(SEED.gpuAudio);
    const snap = await readPci(host.root);
    expect(byAddress(snap.devices, SEED.spareNic).driverOverride).toBe('vfio-pci');
    expect(snap.devices.some((d) => d.address === SEED.gpuAudio)).toBe(false);
    expect(byAddress(snap.devices, SEED.gpu).slotSiblings).toEqual([]);
    expect(snap.groups.find((g) => g.id === 1)?.devices).toEqual([SEED.gpuRootPort, SEED.gpu]);
  });

  it('skips a device whose directory is gone but whose bus link remains (removed mid-read)', async () => {
    const host = await build(seedIntel());
    rmSync(host.deviceDir(SEED.spareNic), { recursive: true });
    const snap = await readPci(host.root);
    expect(snap.devices.some((d) => d.address === SEED.spareNic)).toBe(false);
    expect(snap.devices).toHaveLength(host.spec.devices.length - 1);
  });

  it('leaves names null when pci.ids is absent or turned off', async () => {
    const host = await build({ ...seedIntel(), pciIds: null });
    const snap = await readPci(host.root);
    expect(byAddress(snap.devices, SEED.gpu)).toMatchObject({ vendorName: null, deviceName: null });
    const withIds = await build(seedIntel());
    const off = await readPci(withIds.root, { pciIdsPath: null });
    expect(byAddress(off.devices, SEED.gpu).vendorName).toBeNull();
  });
});

describe('readPci on other hosts', () => {
  it('AMD Proxmox host: ZFS root on NVMe, bridge-port NIC, GPU already on vfio-pci, IOMMU function without group', async () => {
    const host = await build(amdHost());
    const snap = await readPci(host.root);
    expect(byAddress(snap.devices, AMD.nvme).inUse).toEqual([{ kind: 'mount', detail: 'nvme0n1p3 (ZFS pool rpool) mounted on /' }]);
    expect(byAddress(snap.devices, AMD.nic).inUse).toEqual([{ kind: 'netdev', detail: 'enp2s0 is up (port of vmbr0)' }]);
    expect(byAddress(snap.devices, AMD.gpu)).toMatchObject({ driver: 'vfio-pci', iommuGroup: 6, vendorName: 'Advanced Micro Devices, Inc. [AMD/ATI]', inUse: [] });
    expect(byAddress(snap.devices, AMD.bmcVga).inUse).toEqual([{ kind: 'console', detail: 'boot VGA (host console)' }]);
    expect(byAddress(snap.devices, AMD.iommu)).toMatchObject({ classCode: 0x080600, driver: null, iommuGroup: null });
    expect(snap.groups.find((g) => g.id === 6)).toMatchObject({ devices: [AMD.gpu, AMD.gpuAudio], type: 'identity' });
    expect(snap.drivers).toContain('vfio-pci');
  });

  it('IOMMU off: no groups, devices without group; LVM root and swap traced through dm slaves', async () => {
    const host = await build(noIommu());
    const snap = await readPci(host.root);
    expect(snap.groups).toEqual([]);
    expect(snap.devices.every((d) => d.iommuGroup === null)).toBe(true);
    expect(byAddress(snap.devices, NOIOMMU.sata).inUse).toEqual([
      { kind: 'mount', detail: 'dm-0 mounted on /' },
      { kind: 'mount', detail: 'sda2 mounted on /boot' },
      { kind: 'mount', detail: 'sda1 mounted on /boot/efi' },
      { kind: 'swap', detail: 'swap on dm-1' },
    ]);
    expect(byAddress(snap.devices, NOIOMMU.gpu)).toMatchObject({ deviceName: 'GP107 [GeForce GTX 1050 Ti]', inUse: [] });
  });

  it('conventional devices behind a PCIe-to-PCI bridge share the bridge group', async () => {
    const host = await build(sharedGroup());
    const snap = await readPci(host.root);
    expect(snap.groups.find((g) => g.id === 13)?.devices).toEqual([SHARED.bridge, SHARED.nic, SHARED.sound]);
    expect(byAddress(snap.devices, SHARED.bridge)).toMatchObject({ headerType: 1, driver: null });
    expect(byAddress(snap.devices, SHARED.sound)).toMatchObject({ headerType: 0, driver: 'snd_emu10k1', slotSiblings: [] });
  });

  it('SR-IOV: the PF reports its VF count, each VF its PF', async () => {
    const host = await build(sriovHost());
    const snap = await readPci(host.root);
    expect(byAddress(snap.devices, SRIOV.pf)).toMatchObject({ sriovNumVfs: 2, physfn: null });
    expect(byAddress(snap.devices, SRIOV.vf0)).toMatchObject({ physfn: SRIOV.pf, sriovNumVfs: null, iommuGroup: 14 });
    expect(byAddress(snap.devices, SRIOV.vf1)).toMatchObject({ physfn: SRIOV.pf, deviceName: 'I350 Ethernet Controller Virtual Function' });
  });
});

describe('readPci: devices a VM has open', () => {
  it('a vfio-pci device whose enable reads 1 is open by a VM; host-driver devices never count', async () => {
    const host = await build(amdHost());
    writeFileSync(join(host.deviceDir(AMD.gpu), 'enable'), '1\n'); // what vfio-pci does when QEMU opens it
    const snap = await readPci(host.root);
    expect(byAddress(snap.devices, AMD.gpu).openByVm).toBe(true);
    expect(byAddress(snap.devices, AMD.gpuAudio).openByVm).toBe(false);
    expect(byAddress(snap.devices, AMD.nic).openByVm).toBe(false); // host driver: enable is 1, not a VM
  });
});
