/** Plain-data IOMMU facts for the pure checks: a healthy Intel host, changed per test. */
import type { IommuFacts, IommuGroup, PciDevice } from '../../src/model.js';

export function intelHostFacts(overrides: Partial<IommuFacts> = {}): IommuFacts {
  return {
    cpuVendor: 'intel',
    cpuFlags: ['fpu', 'vme', 'vmx', 'sse2'],
    acpiTables: ['DMAR'],
    iommuUnits: [{ name: 'dmar0', kind: 'intel' }, { name: 'dmar1', kind: 'intel' }],
    unsafeNoIommuMode: false,
    interruptRemapping: 'enabled',
    allowUnsafeInterrupts: false,
    vfioPciRegistered: true,
    devVfio: true,
    modules: { vfio: 'loaded', vfio_iommu_type1: 'loaded', vfio_pci: 'loaded' },
    kernelRelease: '6.8.12-4-pve',
    cmdline: 'BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet',
    kernelConfig: { CONFIG_INTEL_IOMMU: 'y', CONFIG_INTEL_IOMMU_DEFAULT_ON: 'y', CONFIG_VFIO: 'm', CONFIG_VFIO_PCI: 'm', CONFIG_VFIO_IOMMU_TYPE1: 'm' },
    staleVirqfd: [],
    modprobeIds: [],
    bootloader: 'grub',
    kernelCmdlineFile: false,
    ...overrides,
  };
}

export function amdHostFacts(overrides: Partial<IommuFacts> = {}): IommuFacts {
  return intelHostFacts({
    cpuVendor: 'amd',
    cpuFlags: ['fpu', 'svm', 'sse2'],
    acpiTables: ['IVRS'],
    iommuUnits: [{ name: 'ivhd0', kind: 'amd' }],
    kernelConfig: { CONFIG_AMD_IOMMU: 'y', CONFIG_VFIO: 'm', CONFIG_VFIO_PCI: 'm', CONFIG_VFIO_IOMMU_TYPE1: 'm' },
    ...overrides,
  });
}

/** What a host with DMA remapping off looks like: no groups, no units, no IR chips. */
export const iommuOff: Partial<IommuFacts> = { iommuUnits: [], interruptRemapping: 'not-seen' };

export function groups(count: number, type = 'DMA-FQ', name: string | null = null): IommuGroup[] {
  return Array.from({ length: count }, (_, id) => ({ id, devices: [`0000:0${id}:00.0`], type, name }));
}

export function device(address: string, overrides: Partial<PciDevice> = {}): PciDevice {
  return {
    address,
    vendorId: 0x10de,
    deviceId: 0x1b80,
    subsystemVendorId: 0x10de,
    subsystemDeviceId: 0x119e,
    classCode: 0x030000,
    headerType: 0,
    driver: null,
    driverOverride: null,
    iommuGroup: 1,
    bootVga: false,
    sriovNumVfs: null,
    physfn: null,
    openByVm: false,
    slotSiblings: [],
    inUse: [],
    vendorName: null,
    deviceName: null,
    health: { resettable: true, resetMethods: ['flr', 'bus'], configAllOnes: false, memoryBars: [] },
    ...overrides,
  };
}
