/**
 * Fake hosts for `setup`, each a boot configuration found in the field, built on test/fake/hosts.ts.
 * Files the fake tree does not model (boot loader configs, kernel build options) are written over
 * the built tree, as the installers leave them.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { amdHost, seedIntel } from '../fake/hosts.js';
import { buildHost, tempTreeDir, type FakeHost, type HostSpec } from '../fake/tree.js';

export const PVE_RELEASE = '6.8.12-4-pve';
export const DEBIAN_RELEASE = '6.1.0-28-amd64';

/** /boot/config-<release> lines that decide the IOMMU default. */
export const KCONFIG_INTEL_NOT_DEFAULT_ON = ['CONFIG_IOMMU_SUPPORT=y', 'CONFIG_INTEL_IOMMU=y', '# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set', 'CONFIG_AMD_IOMMU=y', 'CONFIG_IRQ_REMAP=y', 'CONFIG_VFIO=m', 'CONFIG_VFIO_PCI=m', 'CONFIG_VFIO_IOMMU_TYPE1=m', ''].join('\n');
export const KCONFIG_INTEL_DEFAULT_ON = KCONFIG_INTEL_NOT_DEFAULT_ON.replace('# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set', 'CONFIG_INTEL_IOMMU_DEFAULT_ON=y');

export const DEBIAN_GRUB = (linuxDefault: string, linux = ''): string => `# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.

GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=\`( . /etc/os-release && echo \${NAME} )\`
GRUB_CMDLINE_LINUX_DEFAULT="${linuxDefault}"
GRUB_CMDLINE_LINUX="${linux}"

# Uncomment to disable graphical terminal
#GRUB_TERMINAL=console
`;

export interface Overrides {
  /** Files to write (path relative to the root → text), null to delete. */
  files?: Record<string, string | null>;
  /** Extra CPU flags in /proc/cpuinfo (e.g. "hypervisor"). */
  cpuFlags?: string[];
  /** Drop these CPU flags. */
  dropCpuFlags?: string[];
}

export async function buildSetupHost(spec: HostSpec, o: Overrides = {}): Promise<FakeHost> {
  const host = await buildHost(tempTreeDir('fake-setup-'), spec);
  for (const [path, text] of Object.entries(o.files ?? {})) {
    const at = join(host.root, path);
    if (text === null) rmSync(at, { force: true });
    else {
      mkdirSync(dirname(at), { recursive: true });
      writeFileSync(at, text);
    }
  }
  if (o.cpuFlags || o.dropCpuFlags) {
    const at = join(host.root, 'proc/cpuinfo');
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(at, 'utf8').replace(/^(flags\t\t: )(.*)$/gm, (_m, head: string, flags: string) => {
      const kept = flags.split(' ').filter((f) => !(o.dropCpuFlags ?? []).includes(f));
      return head + [...kept, ...(o.cpuFlags ?? [])].join(' ');
    });
    writeFileSync(at, text);
  }
  return host;
}

const pveCmdline = (release: string, args: string): string => `initrd=\\EFI\\proxmox\\${release}\\initrd.img-${release} ${args}`;

/** Proxmox VE on ZFS, UEFI: systemd-boot ESP managed by proxmox-boot-tool, Intel CPU, kernel without the IOMMU on by default. */
export function pveSystemdBoot(): { spec: HostSpec; overrides: Overrides } {
  const spec: HostSpec = {
    ...seedIntel(),
    kernelRelease: PVE_RELEASE,
    cmdline: pveCmdline(PVE_RELEASE, 'root=ZFS=rpool/ROOT/pve-1 boot=zfs'),
    bootloader: 'proxmox-boot-tool',
    mounts: [{ source: 'rpool/ROOT/pve-1', mountpoint: '/', fstype: 'zfs' }],
    swaps: [],
  };
  return {
    spec,
    overrides: { files: { 'etc/kernel/cmdline': 'root=ZFS=rpool/ROOT/pve-1 boot=zfs\n', [`boot/config-${PVE_RELEASE}`]: KCONFIG_INTEL_NOT_DEFAULT_ON } },
  };
}

/** Proxmox VE on ZFS, legacy BIOS: GRUB on the ESPs through proxmox-boot-tool (no /etc/kernel/cmdline). */
export function pveGrub(): { spec: HostSpec; overrides: Overrides } {
  const spec: HostSpec = {
    ...seedIntel(),
    kernelRelease: PVE_RELEASE,
    cmdline: `BOOT_IMAGE=/ROOT/pve-1@/boot/vmlinuz-${PVE_RELEASE} root=ZFS=/ROOT/pve-1 ro root=ZFS=rpool/ROOT/pve-1 boot=zfs quiet`,
    bootloader: 'proxmox-boot-tool',
    mounts: [{ source: 'rpool/ROOT/pve-1', mountpoint: '/', fstype: 'zfs' }],
    swaps: [],
  };
  return {
    spec,
    overrides: {
      files: {
        'etc/kernel/cmdline': null,
        'etc/kernel/proxmox-boot-uuids': '6B2C-1A0F grub\n',
        'etc/default/grub': DEBIAN_GRUB('quiet', 'root=ZFS=rpool/ROOT/pve-1 boot=zfs'),
        [`boot/config-${PVE_RELEASE}`]: KCONFIG_INTEL_NOT_DEFAULT_ON,
      },
    },
  };
}

/** Plain Debian 12 with GRUB; an old guide left intel_iommu=off in GRUB_CMDLINE_LINUX. */
export function debianGrub(): { spec: HostSpec; overrides: Overrides } {
  const spec: HostSpec = { ...seedIntel(), cmdline: `BOOT_IMAGE=/boot/vmlinuz-${DEBIAN_RELEASE} root=UUID=0d6f8a3e-5c1b-4b7e-9a57-6f3c2a1e9b10 ro intel_iommu=off quiet` };
  return {
    spec,
    overrides: { files: { 'etc/default/grub': DEBIAN_GRUB('quiet', 'intel_iommu=off'), [`boot/config-${DEBIAN_RELEASE}`]: KCONFIG_INTEL_NOT_DEFAULT_ON } },
  };
}

/** The seed Intel host after setup: intel_iommu=on on the command line, the vfio modules listed. */
export function preparedHost(): { spec: HostSpec; overrides: Overrides } {
  const spec = seedIntel();
  spec.modulesLoadD = { 'vfio.conf': 'vfio\nvfio_iommu_type1\nvfio_pci\n' };
  return { spec, overrides: { files: { 'etc/default/grub': DEBIAN_GRUB('quiet intel_iommu=on') } } };
}

/** Debian GRUB on AMD with the how-to's invalid amd_iommu=on. */
export function amdWithAmdIommuOn(): { spec: HostSpec; overrides: Overrides } {
  const spec: HostSpec = {
    ...amdHost(),
    kernelRelease: DEBIAN_RELEASE,
    cmdline: `BOOT_IMAGE=/boot/vmlinuz-${DEBIAN_RELEASE} root=UUID=0d6f8a3e-5c1b-4b7e-9a57-6f3c2a1e9b10 ro quiet amd_iommu=on iommu=pt`,
    bootloader: 'grub',
    etcModules: 'vfio\nvfio_iommu_type1\nvfio_pci\n',
  };
  return { spec, overrides: { files: { 'etc/default/grub': DEBIAN_GRUB('quiet amd_iommu=on iommu=pt') } } };
}

/** The seed how-to on Proxmox (AMD, systemd-boot): /etc/modules and the initramfs list still name vfio_virqfd. */
export function virqfdHost(): { spec: HostSpec; overrides: Overrides } {
  return {
    spec: amdHost(),
    overrides: {
      files: {
        'etc/kernel/cmdline': 'root=ZFS=rpool/ROOT/pve-1 boot=zfs iommu=pt\n',
        'etc/initramfs-tools/modules': '# List of modules that you want to include in your initramfs.\nvfio\nvfio_iommu_type1\nvfio_pci\nvfio_virqfd\n',
      },
    },
  };
}

/** Debian GRUB whose GRUB_CMDLINE_LINUX_DEFAULT spans two lines: setup must not rewrite it. */
export function unparseableGrub(): { spec: HostSpec; overrides: Overrides } {
  const { spec, overrides } = debianGrub();
  spec.cmdline = `BOOT_IMAGE=/boot/vmlinuz-${DEBIAN_RELEASE} root=UUID=0d6f8a3e-5c1b-4b7e-9a57-6f3c2a1e9b10 ro quiet splash`;
  const grub = DEBIAN_GRUB('quiet', '').replace('GRUB_CMDLINE_LINUX_DEFAULT="quiet"', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet \\\n  splash"');
  return { spec, overrides: { files: { ...overrides.files, 'etc/default/grub': grub } } };
}
