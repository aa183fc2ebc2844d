import { join } from 'node:path';

/**
 * Every file the daemon reads or writes is resolved under a root ("/" in production, a test tree
 * in tests), so the same code runs against the real /sys and against a fake kernel tree.
 */
export function under(root: string, absolutePath: string): string {
  return root === '/' ? absolutePath : join(root, absolutePath);
}

export const SYS_PCI_DEVICES = '/sys/bus/pci/devices';
export const SYS_PCI_DRIVERS = '/sys/bus/pci/drivers';
export const SYS_PCI_DRIVERS_PROBE = '/sys/bus/pci/drivers_probe';
export const SYS_IOMMU_GROUPS = '/sys/kernel/iommu_groups';
export const DEFAULT_CONFIG_PATH = '/etc/pcie-passthroughd/config.toml';
export const STATE_DIR = '/run/pcie-passthroughd';
export const STATE_FILE = '/run/pcie-passthroughd/state.json';
/** Taken by the daemon's reconcile and by a direct `pcie-passthroughctl apply` (src/apply/state-lock.ts). */
export const STATE_LOCK_FILE = '/run/pcie-passthroughd/apply.lock';
