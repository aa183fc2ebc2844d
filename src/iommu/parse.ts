/**
 * Pure parsers for the text files the IOMMU facts come from. No I/O: facts.ts reads, these interpret.
 */
import type { FileLine, IommuFacts, ModprobeIdsLine, ModuleState } from '../model.js';

/** The first processor block of /proc/cpuinfo (x86 layout: `vendor_id`, `flags`). */
export function parseCpuinfo(text: string): Pick<IommuFacts, 'cpuVendor' | 'cpuFlags'> {
  const firstBlock = text.split(/\n\s*\n/, 1)[0] ?? '';
  let vendorId: string | null = null;
  let flags: string[] = [];
  for (const line of firstBlock.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === 'vendor_id') vendorId = value;
    else if (key === 'flags') flags = value.split(/\s+/).filter(Boolean);
  }
  return { cpuVendor: cpuVendorOf(vendorId), cpuFlags: flags };
}

function cpuVendorOf(vendorId: string | null): IommuFacts['cpuVendor'] {
  if (vendorId === null) return null;
  if (vendorId === 'GenuineIntel') return 'intel';
  // Hygon Dhyana is a licensed AMD Zen: same `svm` flag, IVRS table and amd_iommu driver.
  if (vendorId === 'AuthenticAMD' || vendorId === 'HygonGenuine') return 'amd';
  return 'other';
}

/** Kernel module names treat `-` and `_` alike (modprobe.d(5)); compare in the `_` form. */
export function normalizeModuleName(name: string): string {
  return name.replace(/-/g, '_');
}

/** Module names listed in /proc/modules (first column). */
export function parseProcModules(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const name = line.split(' ', 1)[0];
    if (name) names.add(normalizeModuleName(name));
  }
  return names;
}

/** Module names from modules.builtin lines such as `kernel/drivers/vfio/pci/vfio-pci.ko`. */
export function parseModulesBuiltin(text: string): Set<string> {
  const names = new Set<string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const base = line.slice(line.lastIndexOf('/') + 1).replace(/\.ko(\.[a-z]+)?$/, '');
    names.add(normalizeModuleName(base));
  }
  return names;
}

/** The CONFIG_ keys of /boot/config-<release> the checks use. */
export const KERNEL_CONFIG_KEYS = [
  'CONFIG_INTEL_IOMMU',
  'CONFIG_INTEL_IOMMU_DEFAULT_ON',
  // Debian's 3-way choice (patch for bugs.debian.org/935270): on, except for integrated GPUs.
  'CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF',
  'CONFIG_AMD_IOMMU',
  'CONFIG_IRQ_REMAP',
  'CONFIG_VFIO',
  'CONFIG_VFIO_PCI',
  'CONFIG_VFIO_IOMMU_TYPE1',
  'CONFIG_IOMMUFD_VFIO_CONTAINER',
] as const;

/**
 * Selected `CONFIG_X=value` entries; `# CONFIG_X is not set` is recorded as "n" so that
 * "built without" can be told apart from "file missing".
 */
export function parseKernelConfig(text: string, keys: readonly string[] = KERNEL_CONFIG_KEYS): Record<string, string> {
  const wanted = new Set(keys);
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const set = /^(CONFIG_[A-Z0-9_]+)=(.*)$/.exec(line);
    if (set?.[1] && wanted.has(set[1])) {
      values[set[1]] = (set[2] ?? '').replace(/^"(.*)"$/, '$1');
      continue;
    }
    const unset = /^# (CONFIG_[A-Z0-9_]+) is not set/.exec(line);
    if (unset?.[1] && wanted.has(unset[1])) values[unset[1]] = 'n';
  }
  return values;
}

/** loaded (in /proc/modules) › builtin (modules.builtin or CONFIG_…=y) › absent. */
export function moduleState(
  name: string,
  loaded: Set<string>,
  builtin: Set<string> | null,
  kernelConfig: Record<string, string> | null,
  configKey: string,
): ModuleState {
  const normalized = normalizeModuleName(name);
  if (loaded.has(normalized)) return 'loaded';
  if (builtin?.has(normalized)) return 'builtin';
  if (kernelConfig?.[configKey] === 'y') return 'builtin';
  return 'absent';
}

/** Lines of a modules-load.d / /etc/modules file that name `vfio_virqfd` (either spelling). */
export function findVirqfdLines(file: string, text: string): FileLine[] {
  const found: FileLine[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line.startsWith('#') || line.startsWith(';')) return;
    const name = line.split(/\s+/, 1)[0] ?? '';
    if (normalizeModuleName(name) === 'vfio_virqfd') found.push({ file, line: index + 1, text: raw });
  });
  return found;
}

/**
 * `options vfio-pci ids=…` / `options vfio_pci ids=…` lines of one modprobe.d file. Handles
 * backslash continuations (modprobe.d(5)), comments, quotes and other options on the same line.
 * The value ends at whitespace, exactly as modprobe splits it.
 */
export function findModprobeIds(file: string, text: string): ModprobeIdsLine[] {
  const found: ModprobeIdsLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const startLine = i + 1;
    let logical = lines[i] ?? '';
    while (logical.endsWith('\\') && i + 1 < lines.length) {
      logical = logical.slice(0, -1) + ' ' + (lines[++i] ?? '');
    }
    const hash = logical.indexOf('#');
    const words = (hash >= 0 ? logical.slice(0, hash) : logical).trim().split(/\s+/);
    if (words[0] !== 'options' || normalizeModuleName(words[1] ?? '') !== 'vfio_pci') continue;
    for (const word of words.slice(2)) {
      if (!word.startsWith('ids=')) continue;
      const value = word.slice('ids='.length).replace(/^"(.*)"$/, '$1');
      const ids = value.split(',').map((s) => s.trim()).filter(Boolean);
      found.push({ file, line: startLine, ids });
    }
  }
  return found;
}

/** `6.8.12-4-pve` → [6, 8]; null when the release does not start with major.minor. */
export function kernelVersion(release: string | null): [number, number] | null {
  const match = release ? /^(\d+)\.(\d+)/.exec(release) : null;
  return match ? [Number(match[1]), Number(match[2])] : null;
}
