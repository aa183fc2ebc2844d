import {
  DEFAULT_DAEMON_SETTINGS, type Config, type DeviceEntry, type IommuFacts, type IommuReport, type PciDevice, type Snapshot,
} from '../../src/model.js';

/** Plain-data builders for planner tests: a device with sensible defaults. */
export function dev(address: string, over: Partial<PciDevice> = {}): PciDevice {
  return {
    address, vendorId: 0x8086, deviceId: 0x1533, subsystemVendorId: 0x8086, subsystemDeviceId: 0x0001,
    classCode: 0x020000, headerType: 0, driver: null, driverOverride: null, iommuGroup: null, bootVga: false,
    sriovNumVfs: null, physfn: null, openByVm: false, slotSiblings: [], inUse: [], vendorName: null, deviceName: null,
    health: { resettable: true, resetMethods: ['flr', 'bus'], configAllOnes: false, memoryBars: [] }, ...over,
  };
}

export const facts: IommuFacts = {
  cpuVendor: 'intel', cpuFlags: ['vmx'], acpiTables: ['DMAR'], iommuUnits: [{ name: 'dmar0', kind: 'intel' }],
  unsafeNoIommuMode: null, interruptRemapping: 'enabled', allowUnsafeInterrupts: false, vfioPciRegistered: false,
  devVfio: true, modules: { vfio: 'absent', vfio_iommu_type1: 'absent', vfio_pci: 'absent' }, kernelRelease: '6.8.12',
  cmdline: 'root=/dev/sda2 quiet', kernelConfig: null, staleVirqfd: [], modprobeIds: [], bootloader: 'grub', kernelCmdlineFile: false,
};

export const iommuOn: IommuReport = { enabled: true, kind: 'intel-vt-d', groupCount: 3, interruptRemapping: 'enabled', checks: [] };
export const iommuOff: IommuReport = { enabled: false, kind: 'none', groupCount: 0, interruptRemapping: 'not-seen', checks: [] };

/** Seed-like host: NVIDIA GPU + HDMI audio in group 1, a root-disk SATA controller, the uplink NIC, a spare NIC. */
export function seedSnapshot(): Snapshot {
  const devices: PciDevice[] = [
    dev('0000:00:00.0', { vendorId: 0x8086, deviceId: 0x3e30, classCode: 0x060000, iommuGroup: 0 }),
    dev('0000:00:01.0', { classCode: 0x060400, headerType: 1, driver: 'pcieport', iommuGroup: 1 }),
    dev('0000:00:02.0', { classCode: 0x030000, driver: 'i915', bootVga: true, iommuGroup: 2, inUse: [{ kind: 'console', detail: 'boot VGA (host console)' }] }),
    dev('0000:00:17.0', { deviceId: 0xa352, classCode: 0x010601, driver: 'ahci', iommuGroup: 3, inUse: [{ kind: 'mount', detail: 'sda2 mounted on /' }] }),
    dev('0000:00:1f.6', { deviceId: 0x15bc, driver: 'e1000e', iommuGroup: 4, inUse: [{ kind: 'netdev', detail: 'eno1 is up' }] }),
    dev('0000:01:00.0', { vendorId: 0x10de, deviceId: 0x0ffc, classCode: 0x030000, driver: 'nvidia', iommuGroup: 1, slotSiblings: ['0000:01:00.1'] }),
    dev('0000:01:00.1', { vendorId: 0x10de, deviceId: 0x0e1b, classCode: 0x040300, driver: 'snd_hda_intel', iommuGroup: 1, slotSiblings: ['0000:01:00.0'] }),
    dev('0000:03:00.0', { driver: 'igb', iommuGroup: 5 }),
  ];
  return {
    devices,
    groups: [
      { id: 0, devices: ['0000:00:00.0'], type: 'DMA', name: null },
      { id: 1, devices: ['0000:00:01.0', '0000:01:00.0', '0000:01:00.1'], type: 'DMA', name: null },
      { id: 2, devices: ['0000:00:02.0'], type: 'DMA', name: null },
      { id: 3, devices: ['0000:00:17.0'], type: 'DMA', name: null },
      { id: 4, devices: ['0000:00:1f.6'], type: 'DMA', name: null },
      { id: 5, devices: ['0000:03:00.0'], type: 'DMA', name: null },
    ],
    drivers: ['ahci', 'e1000e', 'i915', 'igb', 'nvidia', 'pcieport', 'snd_hda_intel'],
    iommu: facts,
    hostHealth: { framebuffers: [], vendorResetLoaded: false },
  };
}

let line = 1;
export function entry(over: Partial<DeviceEntry>): DeviceEntry {
  line += 4;
  return {
    address: null, id: null, subsystem: null, classMatch: null, functions: 'one', driver: null, allowInUse: false,
    source: { file: '/etc/pcie-passthroughd/config.toml', line, column: 1 }, imported: false, ...over,
  };
}

export function config(devices: DeviceEntry[], daemon: Partial<Config['daemon']> = {}): Config {
  return { path: '/etc/pcie-passthroughd/config.toml', daemon: { ...DEFAULT_DAEMON_SETTINGS, ...daemon }, devices };
}

/** What the kernel state looks like after the plan's bind actions succeeded (for idempotency tests). */
export function afterBinding(s: Snapshot, addresses: string[], driver = 'vfio-pci'): Snapshot {
  return {
    ...s,
    drivers: s.drivers.includes(driver) ? s.drivers : [...s.drivers, driver].sort(),
    devices: s.devices.map((d) => (addresses.includes(d.address) ? { ...d, driver, driverOverride: driver } : d)),
  };
}
