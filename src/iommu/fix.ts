/**
 * The one fix for "DMA remapping is off", chosen from this host's CPU vendor, firmware tables,
 * kernel build and boot loader (research/anchors.md (c) #2, #4 and (e) 7).
 */
import type { IommuFacts } from '../model.js';
import { addParamAdvice, intelIommuSwitch, paramTokens, removeParamAdvice } from './cmdline.js';

export type IommuFamily = 'intel' | 'amd' | 'other' | 'unknown';

/** Which IOMMU driver would run here: firmware evidence first, then the CPU vendor. */
export function iommuFamily(facts: IommuFacts): IommuFamily {
  const units = new Set(facts.iommuUnits.map((u) => u.kind));
  if (units.has('intel') || facts.acpiTables.includes('DMAR')) return 'intel';
  if (units.has('amd') || facts.acpiTables.includes('IVRS')) return 'amd';
  if (units.has('other') || facts.acpiTables.includes('IORT')) return 'other';
  if (facts.cpuVendor === 'intel' || facts.cpuVendor === 'amd') return facts.cpuVendor;
  return facts.cpuVendor === 'other' ? 'other' : 'unknown';
}

export function firmwareAdvice(family: IommuFamily, cpuFlags: string[] = []): string {
  switch (family) {
    case 'intel':
      return 'enable "VT-d" (Intel Virtualization Technology for Directed I/O) in the firmware (BIOS/UEFI) setup';
    case 'amd':
      return cpuFlags.includes('svm')
        ? 'enable "IOMMU" (AMD-Vi; often under AMD CBS / NBIO) in the firmware (BIOS/UEFI) setup'
        : 'enable "IOMMU" (AMD-Vi; often under AMD CBS / NBIO) and "SVM Mode" in the firmware (BIOS/UEFI) setup';
    default:
      return 'enable the IOMMU (VT-d / AMD-Vi / SMMU) in the firmware (BIOS/UEFI) setup';
  }
}

/** Cmdline switches that turn the IOMMU of this family off, exactly as written. */
export function offSwitches(facts: IommuFacts, family: IommuFamily): string[] {
  const tokens = paramTokens(facts.cmdline, 'iommu', 'off');
  const intelOff = intelIommuSwitch(facts.cmdline) === 'off' ? paramTokens(facts.cmdline, 'intel_iommu', 'off') : [];
  const amdOff = paramTokens(facts.cmdline, 'amd_iommu', 'off');
  if (family === 'intel') return [...intelOff, ...tokens];
  if (family === 'amd') return [...amdOff, ...tokens];
  return [...intelOff, ...amdOff, ...tokens];
}

const KERNEL_LOG_HINT = 'read `journalctl -k -b | grep -i -e DMAR -e IOMMU -e AMD-Vi` for the reason (often a firmware bug: update the firmware)';

/** What to do when /sys/kernel/iommu_groups is empty; a lower-case clause meant to follow "Fix: ". */
export function iommuOffFix(facts: IommuFacts): string {
  const family = iommuFamily(facts);
  const steps: string[] = [];
  const firmwareAnnounces = facts.acpiTables.length > 0 || facts.iommuUnits.length > 0;
  const switches = offSwitches(facts, family);
  if (switches.length > 0) steps.push(removeParamAdvice(switches, facts));
  if (!firmwareAnnounces) steps.push(firmwareAdvice(family, facts.cpuFlags));
  if (steps.length > 0) return `${steps.join(' and ')}, then reboot`;

  const config = facts.kernelConfig;
  const configFile = `/boot/config-${facts.kernelRelease ?? '<release>'}`;
  if (family === 'intel') {
    if (config?.CONFIG_INTEL_IOMMU === 'n') return `this kernel is built without the Intel IOMMU driver (CONFIG_INTEL_IOMMU is not set in ${configFile}): boot a kernel that has it (Debian and Proxmox kernels do)`;
    if (intelIommuSwitch(facts.cmdline) === 'on') return `intel_iommu=on is already on the command line and the firmware has a DMAR table, yet the kernel made no IOMMU groups: ${KERNEL_LOG_HINT}`;
    const defaultOn = config?.CONFIG_INTEL_IOMMU_DEFAULT_ON === 'y' || config?.CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF === 'y';
    if (defaultOn) return `this kernel enables the Intel IOMMU by default (CONFIG_INTEL_IOMMU_DEFAULT_ON in ${configFile}) and the firmware has a DMAR table, yet the kernel made no IOMMU groups: ${KERNEL_LOG_HINT}`;
    const why = config === null
      ? `${configFile} is missing, so this kernel's default is unknown`
      : `this kernel is built without CONFIG_INTEL_IOMMU_DEFAULT_ON=y (${configFile}), so the Intel IOMMU stays off unless asked`;
    return `${addParamAdvice('intel_iommu=on', facts)}, then reboot (${why})`;
  }
  if (family === 'amd') {
    if (config?.CONFIG_AMD_IOMMU === 'n') return `this kernel is built without the AMD IOMMU driver (CONFIG_AMD_IOMMU is not set in ${configFile}): boot a kernel that has it (Debian and Proxmox kernels do)`;
    // amd_iommu=on is not a mainline value (the kernel answers "AMD-Vi: Unknown option - 'on'").
    return `AMD-Vi is on by default and needs no kernel parameter (do not add amd_iommu=on, it is not a valid value); the firmware has an IVRS table and the command line does not turn it off, yet the kernel made no IOMMU groups: ${KERNEL_LOG_HINT}`;
  }
  return `the firmware announces an IOMMU but the kernel made no IOMMU groups: ${KERNEL_LOG_HINT}`;
}
