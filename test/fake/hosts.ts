/**
 * Named fake hosts, modelled on real layouts (shared/research/qemu-lab.md). Each call returns a fresh
 * spec, so a test may change it before `buildHost`.
 */
import type { DeviceSpec, DriverSpec, HostSpec } from './tree.js';

/** pci.ids excerpt with the fixtures' ids (format of the pciutils database, incl. subsystem and class lines). */
export const PCI_IDS_EXCERPT = `#
#\tList of PCI ID's (fixture excerpt)
#
1002  Advanced Micro Devices, Inc. [AMD/ATI]
\t73bf  Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]
\tab28  Navi 21/23 HDMI/DP Audio Controller
1022  Advanced Micro Devices, Inc. [AMD]
\t1480  Starship/Matisse Root Complex
\t1481  Starship/Matisse IOMMU
\t1483  Starship/Matisse GPP Bridge
\t149c  Matisse USB 3.0 Host Controller
10de  NVIDIA Corporation
\t0e1b  GK107 HDMI Audio Controller
\t\t1028 15cc  GK107 HDMI Audio Controller (Dell)
\t0fb9  GP107GL High Definition Audio Controller
\t0ffc  GK107GLM [Quadro K1000M]
\t\t1028 15cc  Quadro K1000M (Dell)
\t1c82  GP107 [GeForce GTX 1050 Ti]
10ec  Realtek Semiconductor Co., Ltd.
\t8169  RTL8169 PCI Gigabit Ethernet Controller
1102  Creative Labs
\t0002  EMU10k1 [Sound Blaster Live! Series]
144d  Samsung Electronics Co Ltd
\ta808  NVMe SSD Controller SM981/PM981/PM983
\ta80a  NVMe SSD Controller PM9A1/PM9A3/980PRO
1a03  ASPEED Technology, Inc.
\t2000  ASPEED Graphics Family
1b21  ASMedia Technology Inc.
\t1080  ASM1083/1085 PCIe to PCI Bridge
8086  Intel Corporation
\t1520  I350 Ethernet Controller Virtual Function
\t1521  I350 Gigabit Network Connection
\t1533  I210 Gigabit Network Connection
\t15b8  Ethernet Connection (2) I219-V
\t1901  6th-10th Gen Core Processor PCIe Controller (x16)
\t3e30  8th/9th Gen Core 8-core Desktop Processor Host Bridge/DRAM Registers [Coffee Lake S]
\t3e92  CoffeeLake-S GT2 [UHD Graphics 630]
\ta306  Q370 Chipset LPC/eSPI Controller
\ta330  Cannon Lake PCH PCI Express Root Port #9
\ta338  Cannon Lake PCH PCI Express Root Port #1
\ta340  Cannon Lake PCH PCI Express Root Port #17
\ta352  Cannon Lake PCH SATA AHCI Controller
\ta36d  Cannon Lake PCH USB 3.1 xHCI Host Controller

# List of known device classes, subclasses and programming interfaces
C 03  Display controller
\t00  VGA compatible controller
C 06  Bridge
\t04  PCI bridge
`;

const KERNEL_RELEASE = '6.1.0-28-amd64';

const vfioPci = (loaded: boolean, loadable = true): DriverSpec => ({
  module: 'vfio_pci',
  vfio: true,
  loaded,
  loadable,
  deps: ['vfio', 'vfio_iommu_type1', 'irqbypass', 'vfio_pci_core'],
});

const pcieport: DriverSpec = { ids: ['*:*:060400/ffff00'], loaded: true, builtin: true };

// ───────────────────────────── Intel: the seed's GPU host ─────────────────────────────

export const SEED = {
  hostBridge: '0000:00:00.0',
  gpuRootPort: '0000:00:01.0',
  gpu: '0000:01:00.0',
  gpuAudio: '0000:01:00.1',
  igpu: '0000:00:02.0',
  usb: '0000:00:14.0',
  sata: '0000:00:17.0',
  nvmeRootPort: '0000:00:1b.0',
  nvme: '0000:02:00.0',
  spareNicRootPort: '0000:00:1c.0',
  spareNic: '0000:03:00.0',
  nicRootPort: '0000:00:1d.0',
  nic: '0000:04:00.0',
  lpc: '0000:00:1f.0',
} as const;

export function seedIntel(): HostSpec {
  const devices: DeviceSpec[] = [
    { address: SEED.hostBridge, vendor: 0x8086, device: 0x3e30, subsystemVendor: 0x1028, subsystemDevice: 0x0869, classCode: 0x060000, driver: null, group: 0 },
    { address: SEED.gpuRootPort, vendor: 0x8086, device: 0x1901, classCode: 0x060400, driver: 'pcieport', group: 1 },
    { address: SEED.gpu, parent: SEED.gpuRootPort, vendor: 0x10de, device: 0x0ffc, subsystemVendor: 0x1028, subsystemDevice: 0x15cc, classCode: 0x030000, driver: 'nvidia', group: 1, bootVga: false },
    { address: SEED.gpuAudio, parent: SEED.gpuRootPort, vendor: 0x10de, device: 0x0e1b, subsystemVendor: 0x1028, subsystemDevice: 0x15cc, classCode: 0x040300, driver: 'snd_hda_intel', group: 1 },
    { address: SEED.igpu, vendor: 0x8086, device: 0x3e92, subsystemVendor: 0x1028, subsystemDevice: 0x0869, classCode: 0x030000, driver: 'i915', group: 2, bootVga: true },
    { address: SEED.usb, vendor: 0x8086, device: 0xa36d, classCode: 0x0c0330, driver: 'xhci_hcd', group: 3 },
    { address: SEED.sata, vendor: 0x8086, device: 0xa352, classCode: 0x010601, driver: 'ahci', group: 4 },
    { address: SEED.nvmeRootPort, vendor: 0x8086, device: 0xa340, classCode: 0x060400, driver: 'pcieport', group: 5 },
    { address: SEED.nvme, parent: SEED.nvmeRootPort, vendor: 0x144d, device: 0xa808, subsystemVendor: 0x144d, subsystemDevice: 0xa801, classCode: 0x010802, driver: 'nvme', group: 6 },
    { address: SEED.spareNicRootPort, vendor: 0x8086, device: 0xa338, classCode: 0x060400, driver: 'pcieport', group: 7 },
    { address: SEED.spareNic, parent: SEED.spareNicRootPort, vendor: 0x8086, device: 0x1533, subsystemVendor: 0x8086, subsystemDevice: 0x0001, classCode: 0x020000, driver: 'igb', group: 8, net: [{ name: 'enp3s0', up: false }] },
    { address: SEED.nicRootPort, vendor: 0x8086, device: 0xa330, classCode: 0x060400, driver: 'pcieport', group: 9 },
    { address: SEED.nic, parent: SEED.nicRootPort, vendor: 0x8086, device: 0x1533, subsystemVendor: 0x8086, subsystemDevice: 0x0001, classCode: 0x020000, driver: 'igb', group: 10, net: [{ name: 'eno1', up: true }] },
    { address: SEED.lpc, vendor: 0x8086, device: 0xa306, classCode: 0x060100, driver: null, group: 11 },
  ];
  return {
    cpu: 'intel',
    iommu: true,
    interruptRemapping: true,
    devices,
    drivers: {
      pcieport,
      i915: { ids: ['8086:3e92'], loaded: true },
      nvidia: { ids: ['10de:*:030000/ff0000'], loaded: true },
      snd_hda_intel: { ids: ['10de:0e1b', '10de:0fb9', '1002:ab28'], loaded: true },
      xhci_hcd: { module: 'xhci_pci', ids: ['*:*:0c0330/ffffff'], loaded: true },
      ahci: { ids: ['*:*:010601/ffffff'], loaded: true },
      nvme: { ids: ['*:*:010802/ffffff'], loaded: true },
      igb: { ids: ['8086:1533', '8086:1521', '8086:1539'], loaded: true },
      igbvf: { ids: ['8086:1520'], loaded: true },
      'vfio-pci': vfioPci(false),
    },
    block: [
      { name: 'sda', kind: 'ata', controller: SEED.sata, major: 8, minor: 0, partitions: [1, 2, 3] },
      { name: 'nvme0n1', kind: 'nvme-multipath', controller: SEED.nvme, major: 259, minor: 0, partitions: [1] },
    ],
    mounts: [
      { source: '/dev/sda2', mountpoint: '/', fstype: 'ext4' },
      { source: '/dev/sda1', mountpoint: '/boot/efi', fstype: 'vfat' },
      { source: '/dev/nvme0n1p1', mountpoint: '/home', fstype: 'ext4' },
    ],
    swaps: ['/dev/sda3'],
    routes: [
      { iface: 'eno1', destination: '0.0.0.0', gateway: '192.168.1.1', mask: '0.0.0.0' },
      { iface: 'eno1', destination: '192.168.1.0', gateway: '0.0.0.0', mask: '255.255.255.0' },
    ],
    routes6: ['eno1'],
    kernelRelease: KERNEL_RELEASE,
    cmdline: `BOOT_IMAGE=/boot/vmlinuz-${KERNEL_RELEASE} root=UUID=0d6f8a3e-5c1b-4b7e-9a57-6f3c2a1e9b10 ro quiet intel_iommu=on`,
    bootloader: 'grub',
    groupType: 'DMA-FQ',
    etcModules: '# /etc/modules: kernel modules to load at boot time.\nloop\n',
    pciIds: PCI_IDS_EXCERPT,
  };
}

// ───────────────────────────── AMD: Proxmox VE on ZFS ─────────────────────────────

export const AMD = {
  hostBridge: '0000:00:00.0',
  iommu: '0000:00:00.2',
  nvmeBridge: '0000:00:01.1',
  nvme: '0000:01:00.0',
  nicBridge: '0000:00:01.2',
  nic: '0000:02:00.0',
  gpuBridge: '0000:00:03.1',
  gpu: '0000:0a:00.0',
  gpuAudio: '0000:0a:00.1',
  bmcBridge: '0000:00:03.2',
  bmcVga: '0000:0b:00.0',
  usb: '0000:0c:00.3',
} as const;

export function amdHost(): HostSpec {
  const release = '6.8.12-4-pve';
  const devices: DeviceSpec[] = [
    { address: AMD.hostBridge, vendor: 0x1022, device: 0x1480, classCode: 0x060000, driver: null, group: 0 },
    // The AMD IOMMU is itself a PCI function (class 0x0806): no driver, no group; ivhd0 lives under it.
    { address: AMD.iommu, vendor: 0x1022, device: 0x1481, classCode: 0x080600, driver: null, group: null },
    { address: AMD.nvmeBridge, vendor: 0x1022, device: 0x1483, classCode: 0x060400, driver: 'pcieport', group: 1 },
    { address: AMD.nvme, parent: AMD.nvmeBridge, vendor: 0x144d, device: 0xa80a, subsystemVendor: 0x144d, subsystemDevice: 0xa801, classCode: 0x010802, driver: 'nvme', group: 2 },
    { address: AMD.nicBridge, vendor: 0x1022, device: 0x1483, classCode: 0x060400, driver: 'pcieport', group: 3 },
    { address: AMD.nic, parent: AMD.nicBridge, vendor: 0x8086, device: 0x1539, classCode: 0x020000, driver: 'igb', group: 4, net: [{ name: 'enp2s0', up: true, master: 'vmbr0' }] },
    { address: AMD.gpuBridge, vendor: 0x1022, device: 0x1483, classCode: 0x060400, driver: 'pcieport', group: 5 },
    { address: AMD.gpu, parent: AMD.gpuBridge, vendor: 0x1002, device: 0x73bf, subsystemVendor: 0x1002, subsystemDevice: 0x0e3a, classCode: 0x030000, driver: 'vfio-pci', group: 6, bootVga: false },
    { address: AMD.gpuAudio, parent: AMD.gpuBridge, vendor: 0x1002, device: 0xab28, subsystemVendor: 0x1002, subsystemDevice: 0xab28, classCode: 0x040300, driver: 'vfio-pci', group: 6 },
    { address: AMD.bmcBridge, vendor: 0x1022, device: 0x1483, classCode: 0x060400, driver: 'pcieport', group: 7 },
    { address: AMD.bmcVga, parent: AMD.bmcBridge, vendor: 0x1a03, device: 0x2000, classCode: 0x030000, driver: 'ast', group: 8, bootVga: true },
    { address: AMD.usb, vendor: 0x1022, device: 0x149c, classCode: 0x0c0330, driver: 'xhci_hcd', group: 9 },
  ];
  return {
    cpu: 'amd',
    iommu: true,
    interruptRemapping: true,
    devices,
    drivers: {
      pcieport,
      nvme: { ids: ['*:*:010802/ffffff'], loaded: true },
      igb: { ids: ['8086:1533', '8086:1539'], loaded: true },
      amdgpu: { ids: ['1002:*:030000/ff0000'], loaded: true },
      snd_hda_intel: { ids: ['1002:ab28'], loaded: true },
      ast: { ids: ['1a03:2000'], loaded: true },
      xhci_hcd: { module: 'xhci_pci', ids: ['*:*:0c0330/ffffff'], loaded: true },
      // Proxmox how-to style: vfio modules in /etc/modules and `options vfio-pci ids=` claim the GPU at boot.
      'vfio-pci': { ...vfioPci(true), ids: ['1002:73bf', '1002:ab28'] },
    },
    block: [{ name: 'nvme0n1', kind: 'nvme-multipath', controller: AMD.nvme, major: 259, minor: 0, partitions: [1, 2, 3] }],
    mounts: [
      { source: 'rpool/ROOT/pve-1', mountpoint: '/', fstype: 'zfs' },
      { source: 'rpool/data', mountpoint: '/rpool/data', fstype: 'zfs' },
    ],
    swaps: [],
    zfsMembers: { nvme0n1p3: 'rpool' },
    // The NIC is a bridge port: vmbr0 (virtual) carries the address and the default route.
    routes: [{ iface: 'vmbr0', destination: '0.0.0.0', gateway: '10.0.0.1', mask: '0.0.0.0' }],
    routes6: [],
    kernelRelease: release,
    cmdline: `initrd=\\EFI\\proxmox\\${release}\\initrd.img-${release} root=ZFS=rpool/ROOT/pve-1 boot=zfs iommu=pt`,
    bootloader: 'proxmox-boot-tool',
    groupType: 'identity',
    allowUnsafeInterrupts: false,
    etcModules: 'vfio\nvfio_iommu_type1\nvfio_pci\nvfio_virqfd\n',
    modprobeD: { 'vfio.conf': 'options vfio-pci ids=1002:73bf,1002:ab28 disable_vga=1\n', 'zfs.conf': 'options zfs zfs_arc_max=8589934592\n' },
    pciIds: PCI_IDS_EXCERPT,
  };
}

// ───────────────────────────── Intel with VT-d off ─────────────────────────────

export const NOIOMMU = {
  igpu: '0000:00:02.0',
  rootPort: '0000:00:01.0',
  gpu: '0000:01:00.0',
  gpuAudio: '0000:01:00.1',
  sata: '0000:00:17.0',
  nic: '0000:00:1f.6',
} as const;

/** VT-d disabled in firmware: no DMAR, empty iommu_groups and class/iommu, no IR chips; root on LVM. */
export function noIommu(): HostSpec {
  const base = seedIntel();
  return {
    ...base,
    iommu: false,
    interruptRemapping: false,
    devices: [
      { address: '0000:00:00.0', vendor: 0x8086, device: 0x3e30, classCode: 0x060000, driver: null },
      { address: NOIOMMU.rootPort, vendor: 0x8086, device: 0x1901, classCode: 0x060400, driver: 'pcieport' },
      { address: NOIOMMU.gpu, parent: NOIOMMU.rootPort, vendor: 0x10de, device: 0x1c82, classCode: 0x030000, driver: 'nvidia', bootVga: false },
      { address: NOIOMMU.gpuAudio, parent: NOIOMMU.rootPort, vendor: 0x10de, device: 0x0fb9, classCode: 0x040300, driver: 'snd_hda_intel' },
      { address: NOIOMMU.igpu, vendor: 0x8086, device: 0x3e92, classCode: 0x030000, driver: 'i915', bootVga: true },
      { address: NOIOMMU.sata, vendor: 0x8086, device: 0xa352, classCode: 0x010601, driver: 'ahci' },
      { address: NOIOMMU.nic, vendor: 0x8086, device: 0x15b8, classCode: 0x020000, driver: 'e1000e', net: [{ name: 'eno1', up: true }] },
    ],
    drivers: { ...base.drivers, e1000e: { ids: ['8086:15b8'], loaded: true } },
    block: [
      { name: 'sda', kind: 'ata', controller: NOIOMMU.sata, major: 8, minor: 0, partitions: [1, 2, 3] },
      { name: 'dm-0', kind: 'dm', dmName: 'vg0-root', major: 254, minor: 0, slaves: ['sda3'] },
      { name: 'dm-1', kind: 'dm', dmName: 'vg0-swap', major: 254, minor: 1, slaves: ['sda3'] },
    ],
    mounts: [
      { source: '/dev/mapper/vg0-root', mountpoint: '/', fstype: 'ext4' },
      { source: '/dev/sda2', mountpoint: '/boot', fstype: 'ext2' },
      { source: '/dev/sda1', mountpoint: '/boot/efi', fstype: 'vfat' },
    ],
    swaps: ['/dev/dm-1'],
    routes: [{ iface: 'eno1', destination: '0.0.0.0', gateway: '192.168.1.1', mask: '0.0.0.0' }],
    routes6: [],
    cmdline: `BOOT_IMAGE=/boot/vmlinuz-${KERNEL_RELEASE} root=/dev/mapper/vg0-root ro quiet`,
  };
}

// ───────────────────────────── conventional PCI behind a bridge ─────────────────────────────

export const SHARED = {
  rootPort: '0000:00:1c.4',
  bridge: '0000:05:00.0',
  nic: '0000:06:00.0',
  sound: '0000:06:01.0',
} as const;

/** seedIntel plus a PCIe-to-PCI bridge whose two conventional devices share one group with it. */
export function sharedGroup(): HostSpec {
  const spec = seedIntel();
  spec.devices.push(
    { address: SHARED.rootPort, vendor: 0x8086, device: 0xa338, classCode: 0x060400, driver: 'pcieport', group: 12 },
    { address: SHARED.bridge, parent: SHARED.rootPort, vendor: 0x1b21, device: 0x1080, classCode: 0x060401, driver: null, group: 13 },
    { address: SHARED.nic, parent: SHARED.bridge, vendor: 0x10ec, device: 0x8169, classCode: 0x020000, driver: 'r8169', group: 13, pcie: false, net: [{ name: 'enp6s0', up: false }] },
    { address: SHARED.sound, parent: SHARED.bridge, vendor: 0x1102, device: 0x0002, classCode: 0x040100, driver: 'snd_emu10k1', group: 13, pcie: false },
  );
  spec.drivers.r8169 = { ids: ['10ec:8169'], loaded: true };
  spec.drivers.snd_emu10k1 = { ids: ['1102:0002'], loaded: true };
  return spec;
}

// ───────────────────────────── variants ─────────────────────────────

/** Groups exist but the interrupt controller has no remapping (no IR- chips); vfio_iommu_type1 refuses by default. */
export function noInterruptRemapping(): HostSpec {
  return { ...seedIntel(), interruptRemapping: false };
}

/** The vfio modules are not installed: modprobe vfio-pci fails. */
export function vfioMissing(): HostSpec {
  const spec = seedIntel();
  spec.drivers['vfio-pci'] = vfioPci(false, false);
  return spec;
}

export const SRIOV = { rootPort: '0000:00:1c.2', pf: '0000:05:00.0', vf0: '0000:05:10.0', vf1: '0000:05:10.4' } as const;

/** seedIntel plus an I350 physical function with two virtual functions enabled. */
export function sriovHost(): HostSpec {
  const spec = seedIntel();
  spec.devices.push(
    { address: SRIOV.rootPort, vendor: 0x8086, device: 0xa338, classCode: 0x060400, driver: 'pcieport', group: 12 },
    { address: SRIOV.pf, parent: SRIOV.rootPort, vendor: 0x8086, device: 0x1521, classCode: 0x020000, driver: 'igb', group: 13, sriov: { totalVfs: 7, numVfs: 2 }, net: [{ name: 'enp5s0f0', up: false }] },
    { address: SRIOV.vf0, parent: SRIOV.rootPort, vendor: 0x8086, device: 0x1520, classCode: 0x020000, driver: 'igbvf', group: 14, physfn: SRIOV.pf },
    { address: SRIOV.vf1, parent: SRIOV.rootPort, vendor: 0x8086, device: 0x1520, classCode: 0x020000, driver: 'igbvf', group: 15, physfn: SRIOV.pf },
  );
  return spec;
}

/** seedIntel whose GPU never returns from unbind (a busy nvidia driver). */
export function hangingUnbind(): HostSpec {
  return { ...seedIntel(), hangUnbind: [SEED.gpu] };
}

// ───────────────────────────── device health ─────────────────────────────

/** BAR layout of the seed's NVIDIA GPU (a Quadro K1000M: 16 MiB registers, 256 MiB VRAM window). */
export const SEED_GPU_BARS = [
  { bar: 0, start: 0xf6000000, end: 0xf6ffffff },
  { bar: 1, start: 0xe0000000, end: 0xefffffff },
  { bar: 3, start: 0xf0000000, end: 0xf1ffffff },
];

/**
 * seedIntel whose NVIDIA GPU is the one the firmware booted on: the firmware framebuffer (BOOTFB, the
 * x86 sysfb region) sits inside its VRAM BAR, as /proc/iomem shows on such hosts.
 */
export function bootFramebufferOnGpu(name = 'BOOTFB'): HostSpec {
  const spec = seedIntel();
  const gpu = spec.devices.find((d) => d.address === SEED.gpu)!;
  gpu.bars = SEED_GPU_BARS;
  gpu.resetMethods = ['bus'];
  spec.framebuffer = { name, start: 0xe0000000, end: 0xe07e8fff };
  return spec;
}

/** amdHost with a Navi 10 GPU (RX 5700 XT, 1002:731f), a family with the AMD reset bug; optionally vendor-reset loaded. */
export function navi10Host(vendorReset: boolean): HostSpec {
  const spec = amdHost();
  const gpu = spec.devices.find((d) => d.address === AMD.gpu)!;
  gpu.device = 0x731f;
  gpu.resetMethods = ['bus'];
  // vendor-reset hooks the kernel's device-specific reset: the kernel accepts device_specific once it is loaded.
  if (vendorReset) gpu.extraResetMethods = ['device_specific'];
  spec.vendorReset = vendorReset;
  spec.drivers['vfio-pci']!.ids = ['1002:731f', '1002:ab28'];
  spec.modprobeD = { ...spec.modprobeD, 'vfio.conf': 'options vfio-pci ids=1002:731f,1002:ab28 disable_vga=1\n' };
  return spec;
}

/** amdHost after a VM reset its GPU and the GPU never came back: config space reads all 0xff. */
export function deadGpuHost(): HostSpec {
  const spec = amdHost();
  spec.devices.find((d) => d.address === AMD.gpu)!.deadConfig = true;
  return spec;
}
