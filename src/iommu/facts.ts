/**
 * Reads the raw IOMMU facts of a host (all I/O of src/iommu lives here). Every path goes
 * through `under(root, …)`; a missing file is a normal answer, never an exception.
 */
import { join } from 'node:path';
import type { FileLine, IommuFacts, ModprobeIdsLine } from '../model.js';
import { SYS_PCI_DRIVERS, under } from '../paths.js';
import { exists, fileContains, listDir, readParsedCached, readText, readUntil } from './files.js';
import {
  findModprobeIds,
  findVirqfdLines,
  moduleState,
  parseCpuinfo,
  parseKernelConfig,
  parseModulesBuiltin,
  parseProcModules,
} from './parse.js';

const ACPI_TABLES = ['DMAR', 'IVRS', 'IORT'] as const;

export async function readIommuFacts(root: string): Promise<IommuFacts> {
  const at = (path: string): string => under(root, path);
  const kernelRelease = (await readText(at('/proc/sys/kernel/osrelease')))?.trim() || null;

  const [
    cpuinfo,
    acpiTables,
    iommuUnits,
    unsafeNoIommuMode,
    irChipsSeen,
    allowUnsafeInterrupts,
    vfioPciRegistered,
    devVfio,
    procModules,
    builtin,
    cmdline,
    kernelConfig,
    staleVirqfd,
    modprobeIds,
    bootloader,
    kernelCmdlineFile,
    efiBoot,
  ] = await Promise.all([
    readUntil(at('/proc/cpuinfo'), '\n\n'),
    readAcpiTables(at('/sys/firmware/acpi/tables')),
    readIommuUnits(at('/sys/class/iommu')),
    readBoolParam(at('/sys/module/vfio/parameters/enable_unsafe_noiommu_mode')),
    // Interrupt chips are named IR-IO-APIC, IR-PCI-MSI… when remapping is on (x86).
    fileContains(at('/proc/interrupts'), ' IR-'),
    readBoolParam(at('/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts')),
    exists(join(at(SYS_PCI_DRIVERS), 'vfio-pci')),
    exists(at('/dev/vfio/vfio')),
    readText(at('/proc/modules')),
    kernelRelease ? readModulesBuiltin(root, kernelRelease) : Promise.resolve(null),
    readText(at('/proc/cmdline')),
    kernelRelease ? readParsedCached(at(`/boot/config-${kernelRelease}`), (t) => parseKernelConfig(t)) : Promise.resolve(null),
    readVirqfdLines(root),
    readModprobeIds(root),
    detectBootloader(root),
    exists(at('/etc/kernel/cmdline')),
    exists(at('/sys/firmware/efi')),
  ]);

  const loaded = parseProcModules(procModules ?? '');
  const configCopy = kernelConfig ? { ...kernelConfig } : null;
  return {
    ...parseCpuinfo(cpuinfo ?? ''),
    acpiTables,
    iommuUnits,
    unsafeNoIommuMode,
    interruptRemapping: irChipsSeen === null ? 'unknown' : irChipsSeen ? 'enabled' : 'not-seen',
    allowUnsafeInterrupts,
    vfioPciRegistered,
    devVfio,
    modules: {
      vfio: moduleState('vfio', loaded, builtin, configCopy, 'CONFIG_VFIO'),
      vfio_iommu_type1: moduleState('vfio_iommu_type1', loaded, builtin, configCopy, 'CONFIG_VFIO_IOMMU_TYPE1'),
      vfio_pci: moduleState('vfio_pci', loaded, builtin, configCopy, 'CONFIG_VFIO_PCI'),
    },
    kernelRelease,
    cmdline: (cmdline ?? '').trim(),
    kernelConfig: configCopy,
    staleVirqfd,
    modprobeIds,
    bootloader,
    kernelCmdlineFile,
    efiBoot,
  };
}

async function readAcpiTables(dir: string): Promise<string[]> {
  // The table files are readable by root only, but their names are visible to everyone.
  const present = new Set(await listDir(dir));
  return ACPI_TABLES.filter((t) => present.has(t));
}

async function readIommuUnits(dir: string): Promise<IommuFacts['iommuUnits']> {
  return (await listDir(dir)).map((name) => ({
    name,
    kind: name.startsWith('dmar') ? 'intel' : name.startsWith('ivhd') ? 'amd' : 'other',
  }));
}

/** Module parameters of type bool read "Y"/"N" (older int params "1"/"0"). */
async function readBoolParam(path: string): Promise<boolean | null> {
  const text = (await readText(path))?.trim();
  if (text === undefined || text === '') return null;
  return text === 'Y' || text === 'y' || text === '1';
}

async function readModulesBuiltin(root: string, release: string): Promise<Set<string> | null> {
  for (const base of ['/lib/modules', '/usr/lib/modules']) {
    const names = await readParsedCached(under(root, `${base}/${release}/modules.builtin`), parseModulesBuiltin);
    if (names) return names;
  }
  return null;
}

/** Files systemd-modules-load reads from /etc, plus the initramfs-tools list old guides also edit. */
async function readVirqfdLines(root: string): Promise<FileLine[]> {
  const loadD = '/etc/modules-load.d';
  const files = [
    '/etc/modules',
    ...(await listDir(under(root, loadD))).filter((f) => f.endsWith('.conf')).map((f) => `${loadD}/${f}`),
    '/etc/initramfs-tools/modules',
  ];
  const texts = await Promise.all(files.map((f) => readText(under(root, f))));
  return files.flatMap((file, i) => findVirqfdLines(file, texts[i] ?? ''));
}

async function readModprobeIds(root: string): Promise<ModprobeIdsLine[]> {
  const dir = '/etc/modprobe.d';
  const files = (await listDir(under(root, dir))).filter((f) => f.endsWith('.conf')).map((f) => `${dir}/${f}`);
  const texts = await Promise.all(files.map((f) => readText(under(root, f))));
  return files.flatMap((file, i) => findModprobeIds(file, texts[i] ?? ''));
}

/**
 * proxmox-boot-tool keeps its ESPs in /etc/kernel/proxmox-boot-uuids (`status` exits 2 without
 * it); /etc/kernel/cmdline alone is read by kernel-install for systemd-boot; else GRUB.
 */
async function detectBootloader(root: string): Promise<IommuFacts['bootloader']> {
  const [pbt, kernelCmdline, grub] = await Promise.all([
    exists(under(root, '/etc/kernel/proxmox-boot-uuids')),
    exists(under(root, '/etc/kernel/cmdline')),
    exists(under(root, '/etc/default/grub')),
  ]);
  if (pbt) return 'proxmox-boot-tool';
  if (grub) return 'grub';
  if (kernelCmdline) return 'systemd-boot';
  return 'unknown';
}
