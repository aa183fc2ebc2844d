/**
 * The IOMMU verdict: thirteen pure checks over facts read from files (research/anchors.md (c)),
 * each with a stable kebab-case name and, when something is wrong, the exact fix for this host.
 */
import type { Check, IommuFacts, IommuGroup, IommuReport, PciDevice } from '../model.js';
import { isBridge, isPlatformBridge } from '../model.js';
import { bootedBy, cmdlineHowTo, cmdlineParams, paramOptions, paramTokens, proxmoxLoader, removeParamAdvice } from './cmdline.js';
import { firmwareAdvice, iommuFamily, iommuOffFix } from './fix.js';
import { kernelVersion } from './parse.js';

/** Name of the fake groups vfio makes in no-IOMMU mode (drivers/vfio/group.c). */
const NOIOMMU_GROUP_NAME = 'vfio-noiommu';
/** PCI class 0x0806: the AMD IOMMU is itself a PCI function, without a group of its own. */
const IOMMU_CLASS = 0x0806;

export function verifyIommu(facts: IommuFacts, groups: IommuGroup[], devices: PciDevice[], targetDriver = 'vfio-pci'): IommuReport {
  const realGroups = groups.filter((g) => g.name !== NOIOMMU_GROUP_NAME);
  const noIommu = facts.unsafeNoIommuMode === true || realGroups.length < groups.length;
  // With DMA remapping on, vfio makes no-IOMMU groups only for devices without a group of their own
  // (vfio_group_find_or_alloc falls back to vfio_noiommu_group_alloc): the rest stay isolated.
  const dmaRemapping = realGroups.length > 0;
  const ctx: Context = { facts, groups, realGroups, noIommu, dmaRemapping };
  const checks: Check[] = [
    virtualization(ctx),
    acpiTable(ctx),
    iommuUnits(ctx),
    dmaRemappingCheck(ctx),
    noIommuMode(ctx, devices),
    deviceGroups(ctx, devices),
    acsOverride(ctx),
    interruptRemapping(ctx),
    passthroughMode(ctx),
    vfioModules(ctx, targetDriver),
    staleVirqfd(ctx),
    modprobeIds(ctx),
    kernelCmdline(ctx),
  ];
  return {
    enabled: dmaRemapping,
    kind: kindOf(ctx),
    groupCount: groups.length,
    interruptRemapping: interruptRemappingState(facts),
    checks,
  };
}

interface Context {
  facts: IommuFacts;
  groups: IommuGroup[];
  /** Groups that really isolate (not vfio-noiommu fakes). */
  realGroups: IommuGroup[];
  noIommu: boolean;
  dmaRemapping: boolean;
}

const pass = (name: string, message: string): Check => ({ name, status: 'pass', message });
const warn = (name: string, message: string): Check => ({ name, status: 'warn', message });
const fail = (name: string, message: string): Check => ({ name, status: 'fail', message });

function kindOf({ facts, realGroups }: Context): IommuReport['kind'] {
  const announced = facts.iommuUnits.length > 0 || facts.acpiTables.length > 0;
  if (!announced && realGroups.length === 0) return 'none';
  const family = iommuFamily(facts);
  return family === 'intel' ? 'intel-vt-d' : family === 'amd' ? 'amd-vi' : 'other';
}

function interruptRemappingState(facts: IommuFacts): IommuReport['interruptRemapping'] {
  if (facts.interruptRemapping !== 'enabled' && facts.allowUnsafeInterrupts === true) return 'unsafe-allowed';
  return facts.interruptRemapping;
}

function isX86(facts: IommuFacts): boolean {
  return facts.cpuVendor === 'intel' || facts.cpuVendor === 'amd';
}

// ───────────────────────────── 1-4: is the IOMMU on ─────────────────────────────

function virtualization({ facts }: Context): Check {
  const name = 'virtualization';
  const flags = new Set(facts.cpuFlags);
  if (flags.has('vmx')) return pass(name, 'CPU flag vmx present: Intel VT-x is enabled');
  if (flags.has('svm')) return pass(name, 'CPU flag svm present: AMD-V (SVM) is enabled');
  if (facts.cpuVendor === 'intel') {
    return warn(name, 'No vmx flag in /proc/cpuinfo: VT-x is disabled in the firmware (or this host is itself a VM without nested virtualization), so KVM cannot run guests. Fix: enable "Intel Virtualization Technology" (VT-x) in the firmware (BIOS/UEFI) setup, then reboot');
  }
  if (facts.cpuVendor === 'amd') {
    return warn(name, 'No svm flag in /proc/cpuinfo: AMD-V is disabled in the firmware (or this host is itself a VM without nested virtualization), so KVM cannot run guests. Fix: enable "SVM Mode" in the firmware (BIOS/UEFI) setup, then reboot');
  }
  return pass(name, 'Not checked: /proc/cpuinfo shows no Intel/AMD vendor_id (the vmx/svm flags only exist on x86)');
}

function acpiTable({ facts, realGroups }: Context): Check {
  const name = 'acpi-table';
  const labels: Record<string, string> = { DMAR: 'DMAR (Intel VT-d)', IVRS: 'IVRS (AMD-Vi)', IORT: 'IORT (Arm SMMU)' };
  if (facts.acpiTables.length > 0) {
    return pass(name, `Firmware announces an IOMMU: ACPI ${facts.acpiTables.map((t) => labels[t] ?? t).join(', ')} in /sys/firmware/acpi/tables`);
  }
  if (realGroups.length > 0) {
    return pass(name, 'No DMAR/IVRS/IORT table in /sys/firmware/acpi/tables, but IOMMU groups exist (an IOMMU described another way, e.g. virtio-iommu or device tree)');
  }
  return fail(name, `No ACPI DMAR/IVRS/IORT table in /sys/firmware/acpi/tables: the IOMMU is disabled in the firmware or this platform has none. Fix: ${firmwareAdvice(iommuFamily(facts), facts.cpuFlags)}, then reboot`);
}

function iommuUnits({ facts, dmaRemapping }: Context): Check {
  const name = 'iommu-units';
  if (facts.iommuUnits.length > 0) {
    const names = facts.iommuUnits.map((u) => u.name).join(', ');
    return pass(name, `IOMMU driver registered ${facts.iommuUnits.length} unit(s) in /sys/class/iommu: ${names}`);
  }
  if (dmaRemapping) return warn(name, '/sys/class/iommu is empty although IOMMU groups exist; nothing to fix for passthrough, but the IOMMU driver registered no units');
  return fail(name, '/sys/class/iommu is empty: no IOMMU driver is running. Fix: see the dma-remapping check');
}

function dmaRemappingCheck(ctx: Context): Check {
  const name = 'dma-remapping';
  const { facts, groups, realGroups } = ctx;
  if (realGroups.length > 0) {
    return pass(name, `DMA remapping is on: ${realGroups.length} IOMMU group(s) in /sys/kernel/iommu_groups`);
  }
  if (groups.length > 0) {
    return fail(name, `/sys/kernel/iommu_groups holds only ${groups.length} vfio-noiommu group(s): DMA remapping is off, those groups isolate nothing. Fix: ${iommuOffFix(facts)}`);
  }
  return fail(name, `DMA remapping is off: /sys/kernel/iommu_groups is empty, so no device can be given to a VM safely. Fix: ${iommuOffFix(facts)}`);
}

// ───────────────────────────── 5-8: is it safe and complete ─────────────────────────────

function noIommuMode({ facts, groups, noIommu, dmaRemapping }: Context, devices: PciDevice[]): Check {
  const name = 'no-iommu-mode';
  if (!noIommu) return pass(name, 'vfio no-IOMMU mode is off');
  const fakeGroups = groups.filter((g) => g.name === NOIOMMU_GROUP_NAME).map((g) => g.id);
  const evidence = [
    ...(facts.unsafeNoIommuMode === true ? ['/sys/module/vfio/parameters/enable_unsafe_noiommu_mode is Y'] : []),
    ...(fakeGroups.length > 0 ? [`group(s) ${fakeGroups.join(', ')} are named vfio-noiommu`] : []),
  ].join(' and ');
  const onCmdline = cmdlineParams(facts.cmdline)
    .filter((p) => p.name === 'vfio.enable_unsafe_noiommu_mode' && !/^(0|n|N|off|false)$/.test(p.value ?? ''))
    .map((p) => (p.value === null ? p.name : `${p.name}=${p.value}`));
  const fix = onCmdline.length > 0
    ? removeParamAdvice(onCmdline, facts)
    : 'delete the `options vfio enable_unsafe_noiommu_mode=1` line from /etc/modprobe.d, then reload vfio or reboot';
  if (dmaRemapping) {
    const fakeIds = new Set(fakeGroups);
    const ungrouped = devices
      .filter((d) => !isBridge(d) && !isPlatformBridge(d) && d.classCode >> 8 !== IOMMU_CLASS && (d.iommuGroup === null || fakeIds.has(d.iommuGroup)))
      .map((d) => d.address);
    const shown = ungrouped.slice(0, 8).join(', ') + (ungrouped.length > 8 ? ` and ${ungrouped.length - 8} more` : '');
    const who = ungrouped.length > 0 ? `${ungrouped.length} device(s) without an IOMMU group of their own (${shown})` : 'devices without an IOMMU group of their own (none here)';
    return warn(name, `vfio no-IOMMU mode is on (${evidence}), but DMA remapping is on too: devices in real IOMMU groups stay isolated and are bound as usual. The kernel uses unsafe no-IOMMU groups only for ${who}: those get no isolation and no DMA translation, and pcie-passthroughd does not bind them. Fix: ${fix}${onCmdline.length > 0 ? ', then reboot' : ''}`);
  }
  return fail(name, `vfio no-IOMMU mode is on (${evidence}): such devices get no isolation and no DMA translation, so pcie-passthroughd treats the IOMMU as off. Fix: ${fix}${onCmdline.length > 0 ? ', then reboot' : ''}`);
}

function deviceGroups({ dmaRemapping }: Context, devices: PciDevice[]): Check {
  const name = 'device-groups';
  // Candidates for passthrough only: bridges of any kind are never taken.
  const endpoints = devices.filter((d) => !isBridge(d) && !isPlatformBridge(d) && d.classCode >> 8 !== IOMMU_CLASS);
  if (!dmaRemapping) return warn(name, 'Not checked: DMA remapping is off, so no device has an IOMMU group (see dma-remapping)');
  const missing = endpoints.filter((d) => d.iommuGroup === null).map((d) => d.address);
  if (missing.length === 0) return pass(name, `All ${endpoints.length} endpoint device(s) have an IOMMU group`);
  const shown = missing.slice(0, 8).join(', ') + (missing.length > 8 ? ` and ${missing.length - 8} more` : '');
  return warn(name, `${missing.length} endpoint device(s) have no IOMMU group and cannot be passed through: ${shown}. They are not behind a translating IOMMU; software cannot fix that (check the firmware's IOMMU settings for that slot, or use another slot)`);
}

/** pcie_acs_override= (a patch Proxmox kernels carry) claims isolation the hardware does not enforce. */
function acsOverride({ facts }: Context): Check {
  const name = 'acs-override';
  const tokens = cmdlineParams(facts.cmdline)
    .filter((p) => p.name === 'pcie_acs_override')
    .map((p) => (p.value === null ? p.name : `${p.name}=${p.value}`));
  if (tokens.length === 0) return pass(name, 'No pcie_acs_override on the command line: IOMMU groups are as the hardware isolates them');
  return warn(name, `The command line has ${tokens.join(' ')}: the kernel splits IOMMU groups as if the hardware isolated devices that it does not (ACS is not there to stop peer-to-peer DMA). The groups shown are not a safety boundary: a device given to a VM can still reach the devices it was really grouped with, host devices included, and the VM can read or corrupt their memory traffic. Accept that risk knowingly, or move the device to a slot with a group of its own (behind a root port with ACS) and ${removeParamAdvice(tokens, facts)}, then reboot`);
}

function interruptRemapping({ facts, dmaRemapping }: Context): Check {
  const name = 'interrupt-remapping';
  const unsafeOn = facts.allowUnsafeInterrupts === true;
  if (facts.interruptRemapping === 'enabled') {
    const note = unsafeOn ? '; allow_unsafe_interrupts=Y is set but not needed here: remove that option' : '';
    return pass(name, `Interrupt remapping is on (IR- interrupt chips in /proc/interrupts)${note}`);
  }
  if (!isX86(facts) && facts.interruptRemapping === 'not-seen') {
    return pass(name, 'Not checked: IR- interrupt chips only exist on x86; on this platform MSI isolation comes from the interrupt controller');
  }
  if (unsafeOn) {
    return warn(name, 'Interrupt remapping is not seen and vfio_iommu_type1 allow_unsafe_interrupts=Y: VMs can start, but a passed-through device can inject arbitrary interrupts into the host (unsafe-allowed). Prefer enabling interrupt remapping (x2APIC / IR) in the firmware');
  }
  if (facts.interruptRemapping === 'unknown') {
    return warn(name, 'Unknown: /proc/interrupts could not be read');
  }
  if (!dmaRemapping) return warn(name, 'Not seen (no IR- interrupt chips in /proc/interrupts): expected while DMA remapping is off; recheck after fixing dma-remapping');
  if (facts.kernelConfig?.CONFIG_IRQ_REMAP === 'n') {
    return warn(name, `Interrupt remapping is off: this kernel is built without it (CONFIG_IRQ_REMAP is not set in /boot/config-${facts.kernelRelease ?? '<release>'}), so starting a VM with a passed-through device fails with "No interrupt remapping support" (EPERM). Fix: boot a kernel built with CONFIG_IRQ_REMAP=y (Debian and Proxmox kernels are)`);
  }
  const intremapOff = paramTokens(facts.cmdline, 'intremap', 'off');
  const fix = intremapOff.length > 0
    ? `${removeParamAdvice(intremapOff, facts)}, then reboot`
    : `enable interrupt remapping / x2APIC in the firmware setup and reboot; last resort (unsafe): ${'`options vfio_iommu_type1 allow_unsafe_interrupts=1`'} in /etc/modprobe.d/vfio.conf`;
  return warn(name, `Interrupt remapping is off (no IR- interrupt chips in /proc/interrupts): starting a VM with a passed-through device fails with "No interrupt remapping support" (EPERM). Fix: ${fix}`);
}

function passthroughMode({ facts, realGroups }: Context): Check {
  const name = 'passthrough-mode';
  const counts = new Map<string, number>();
  for (const g of realGroups) counts.set(g.type ?? 'unknown', (counts.get(g.type ?? 'unknown') ?? 0) + 1);
  const iommuPt = paramOptions(facts.cmdline, 'iommu').includes('pt');
  if (realGroups.length === 0) return pass(name, 'Not applicable: no IOMMU groups');
  const summary = [...counts].map(([type, n]) => `${n} ${type}`).join(', ');
  if (counts.get('identity') === realGroups.length) {
    return pass(name, `Passthrough mode (iommu=pt): every group uses an identity domain for host-owned devices (${summary}); devices given to VMs are still isolated`);
  }
  return pass(name, `Translated DMA domains (${summary})${iommuPt ? '; iommu=pt is on the command line' : '; iommu=pt is optional (host performance only)'}`);
}

// ───────────────────────────── 9-12: plumbing and leftovers ─────────────────────────────

function vfioModules({ facts }: Context, targetDriver: string): Check {
  const name = 'vfio-modules';
  const config = facts.kernelConfig;
  const configFile = `/boot/config-${facts.kernelRelease ?? '<release>'}`;
  if (config?.CONFIG_VFIO === 'n' || config?.CONFIG_VFIO_PCI === 'n') {
    return fail(name, `This kernel is built without VFIO (CONFIG_VFIO / CONFIG_VFIO_PCI not set in ${configFile}): boot a kernel that has it (Debian and Proxmox kernels do)`);
  }
  // vfio_iommu_type1 provides the /dev/vfio/vfio container unless iommufd emulates it.
  const containerOk = facts.modules.vfio_iommu_type1 !== 'absent' || config?.CONFIG_IOMMUFD_VFIO_CONTAINER === 'y';
  const problems: string[] = [];
  if (targetDriver === 'vfio-pci' && !facts.vfioPciRegistered) {
    const staticNode = facts.devVfio ? ' (/dev/vfio/vfio exists, but that node is static and proves nothing)' : '';
    problems.push(`vfio-pci is not loaded yet: /sys/bus/pci/drivers/vfio-pci is absent${staticNode}; pcie-passthroughd runs \`modprobe vfio-pci\` before binding`);
  }
  if (!containerOk) {
    problems.push('vfio_iommu_type1 is neither loaded nor built in, so a VM cannot open its VFIO container: run `modprobe vfio_iommu_type1`');
  }
  if (problems.length > 0) {
    return warn(name, `${problems.join('; ')}. To load them at every boot, put the lines vfio, vfio_iommu_type1 and vfio_pci in /etc/modules-load.d/vfio.conf`);
  }
  const type1 = facts.modules.vfio_iommu_type1 === 'absent' ? 'VFIO container provided by iommufd' : `vfio_iommu_type1 ${facts.modules.vfio_iommu_type1}`;
  const driver = targetDriver === 'vfio-pci' ? 'vfio-pci registered' : `target driver ${targetDriver} (checked when binding)`;
  return pass(name, `${driver}, ${type1}`);
}

function staleVirqfd({ facts }: Context): Check {
  const name = 'stale-virqfd';
  const lines = facts.staleVirqfd;
  if (lines.length === 0) return pass(name, 'No vfio_virqfd line in /etc/modules, /etc/modules-load.d or /etc/initramfs-tools/modules');
  const where = lines.map((l) => `line ${l.line} of ${l.file}`).join(', ');
  const needsInitramfs = lines.some((l) => l.file === '/etc/initramfs-tools/modules');
  const rebuild = needsInitramfs ? ', then run `update-initramfs -u -k all`' : '';
  const version = kernelVersion(facts.kernelRelease);
  if (version && (version[0] < 6 || (version[0] === 6 && version[1] < 2))) {
    return pass(name, `vfio_virqfd is listed (${where}); kernel ${facts.kernelRelease} still has it as a separate module, so this is correct today. When you move to kernel 6.2 or newer (where it is part of vfio), delete ${where}${rebuild}`);
  }
  const kernel = version ? `Kernel ${facts.kernelRelease} has no vfio_virqfd module (merged into vfio since 6.2)` : 'vfio_virqfd was merged into vfio in kernel 6.2 (this kernel\'s version is unknown)';
  return warn(name, `${kernel}, so loading it fails at boot ("Module vfio_virqfd not found") and can break initramfs builds. Fix: delete ${where}${rebuild}`);
}

function modprobeIds({ facts }: Context): Check {
  const name = 'modprobe-ids';
  const lines = facts.modprobeIds;
  const onCmdline = paramOptions(facts.cmdline, 'vfio-pci.ids').concat(paramOptions(facts.cmdline, 'vfio_pci.ids'));
  const cmdlineNote = onCmdline.length > 0 ? ` The kernel command line has vfio-pci.ids=${onCmdline.join(',')}.` : '';
  if (lines.length === 0) {
    return pass(name, `No \`options vfio-pci ids=\` in /etc/modprobe.d; pcie-passthroughd binds by driver_override and needs none.${cmdlineNote}`);
  }
  const where = lines.map((l) => `${l.file} line ${l.line} (ids=${l.ids.join(',')})`).join(', ');
  const builtin = facts.modules.vfio_pci === 'builtin' || facts.kernelConfig?.CONFIG_VFIO_PCI === 'y';
  if (builtin) {
    return warn(name, `vfio-pci is built into this kernel, so modprobe.d options are never applied: ${where} has no effect; only \`vfio-pci.ids=\` on the kernel command line would be.${cmdlineNote} With pcie-passthroughd you need neither: list the devices in /etc/pcie-passthroughd/config.toml (import_modprobe = true takes these ids and binds them by driver_override), then delete those lines`);
  }
  return pass(name, `${where}: applied when the vfio-pci module loads. pcie-passthroughd binds by driver_override, so these lines are unnecessary (import_modprobe = true takes them over; afterwards delete them and run \`update-initramfs -u -k all\`).${cmdlineNote}`);
}

function kernelCmdline({ facts }: Context): Check {
  const name = 'kernel-cmdline';
  const how = cmdlineHowTo(facts);
  const booted = bootedBy(facts.cmdline);
  const evidence = booted === 'grub' ? '; BOOT_IMAGE= in /proc/cmdline: GRUB booted this kernel' : booted === 'systemd-boot' ? '; initrd=\\… in /proc/cmdline: systemd-boot booted this kernel' : '';
  const source: Record<IommuFacts['bootloader'], string> = {
    'proxmox-boot-tool': `proxmox-boot-tool with ${proxmoxLoader(facts) === 'grub' ? 'GRUB' : 'systemd-boot'} (/etc/kernel/proxmox-boot-uuids${evidence})`,
    'systemd-boot': 'systemd-boot via kernel-install (/etc/kernel/cmdline)',
    grub: 'GRUB (/etc/default/grub)',
    unknown: 'an unknown boot loader',
  };
  const amdOn = paramTokens(facts.cmdline, 'amd_iommu', 'on');
  if (amdOn.length > 0) {
    return warn(name, `The command line has ${amdOn.join(' ')}, which is not a valid value (AMD-Vi is on by default; the kernel ignores it with "Unknown option"). To tidy up: ${removeParamAdvice(amdOn, facts)}`);
  }
  const loader = facts.bootloader === 'grub' || facts.bootloader === 'systemd-boot' ? (booted ?? facts.bootloader) : facts.bootloader;
  const message = `Kernel command line comes from ${source[loader]}: to change it, edit ${how.where}, run \`${how.apply}\`, then reboot`;
  if (facts.bootloader === 'unknown') {
    return warn(name, `Could not tell where the kernel command line comes from (no /etc/kernel/proxmox-boot-uuids, /etc/default/grub or /etc/kernel/cmdline). ${capitalizeFirst(`edit ${how.where}, run ${how.apply}, then reboot`)}`);
  }
  return pass(name, message);
}

function capitalizeFirst(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
