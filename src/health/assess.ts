/**
 * Pure: what stands between a device and a working VM once the binding is right — whether it can be
 * reset (and whether it is a GPU family known not to come back from a reset), whether it still answers,
 * and whether the firmware's boot framebuffer sits in one of its BARs. Each finding names its fix.
 */
import type { Check, IommuFacts, PciDevice, Snapshot } from '../model.js';
import { addParamAdvice, paramOptions } from '../iommu/cmdline.js';
import { resetBugFamily } from './reset-bugs.js';

export type HealthCheckName = 'reset' | 'config-space' | 'boot-framebuffer';

export interface HealthCheck extends Check {
  name: HealthCheckName;
}

/** The sentence the `dead` state carries (also the config-space check's message). */
export function deadReason(address: string): string {
  return `config space reads all 0xff (lspci: "Unknown header type 7f"): the device stopped answering, typically after a VM reset it; it needs a power cycle or a bus reset: power the host off and on (a warm reboot may not be enough), or remove and rescan it (\`echo 1 > /sys/bus/pci/devices/${address}/remove; echo 1 > /sys/bus/pci/rescan\`)`;
}

/** The reset methods as the kernel lists them, for humans: "flr bus", "none (resets disabled)", "unknown". */
export function resetSummary(d: PciDevice): string {
  const { resettable, resetMethods } = d.health;
  if (!resettable) return 'none';
  if (resetMethods === null) return 'supported';
  return resetMethods.length === 0 ? 'disabled' : resetMethods.join(' ');
}

const VENDOR_RESET_FIX = 'install vendor-reset (github.com/gnif/vendor-reset, DKMS), load it at boot (`echo vendor-reset > /etc/modules-load.d/vendor-reset.conf`) and set reset_method = "device_specific" in this device\'s [[device]] entry';

function resetCheck(d: PciDevice, vendorResetLoaded: boolean): HealthCheck {
  const { resettable, resetMethods } = d.health;
  const family = resetBugFamily(d.vendorId, d.deviceId);
  if (family !== null) {
    const viaVendorReset = resetMethods === null ? vendorResetLoaded : resetMethods.includes('device_specific');
    if (viaVendorReset) return { name: 'reset', status: 'pass', message: `AMD ${family}: reset by vendor-reset (device_specific), which works around the AMD reset bug` };
    if (vendorResetLoaded) {
      return { name: 'reset', status: 'warn', message: `AMD ${family} GPUs do not come back from a VM reset (the AMD reset bug); vendor-reset is loaded but not used for this GPU (reset_method: ${resetSummary(d)}): set reset_method = "device_specific" in its [[device]] entry` };
    }
    return { name: 'reset', status: 'warn', message: `AMD ${family} GPUs do not come back from a VM reset (the AMD reset bug; a second VM start fails or hangs until the host reboots): ${VENDOR_RESET_FIX}` };
  }
  if (!resettable) {
    return { name: 'reset', status: 'warn', message: 'the kernel cannot reset this function (no reset attribute): what one VM leaves in it carries into the next, and only a host reboot clears it' };
  }
  if (resetMethods !== null && resetMethods.length === 0) {
    return { name: 'reset', status: 'warn', message: `resets are disabled (reset_method is empty): write default to /sys/bus/pci/devices/${d.address}/reset_method, or set reset_method in its [[device]] entry` };
  }
  return { name: 'reset', status: 'pass', message: resetMethods === null ? 'can be reset (this kernel has no reset_method attribute to say how)' : `reset methods: ${resetMethods.join(' ')}` };
}

function kernelAtLeast(release: string | null, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release ?? '');
  if (!m) return true; // unknown: advise for current kernels
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

function hex(n: number): string {
  return n.toString(16);
}

/**
 * Since Linux 5.15 the boot framebuffer is a generic sysfb device that simplefb/simpledrm take over, so
 * turning efifb off no longer frees it; keeping sysfb from registering it does. Older kernels: efifb/vesafb.
 */
function framebufferParam(facts: IommuFacts, name: string): string {
  if (kernelAtLeast(facts.kernelRelease, 5, 15)) return 'initcall_blacklist=sysfb_init';
  return name === 'vesafb' ? 'video=vesafb:off' : 'video=efifb:off';
}

function framebufferCheck(d: PciDevice, snapshot: Pick<Snapshot, 'hostHealth' | 'iommu'>): HealthCheck | null {
  const framebuffers = snapshot.hostHealth.framebuffers;
  if (d.classCode >> 16 !== 0x03 || framebuffers === null) return null;
  for (const fb of framebuffers) {
    const bar = d.health.memoryBars.find((b) => fb.start >= b.start && fb.end <= b.end);
    if (!bar) continue;
    const param = framebufferParam(snapshot.iommu, fb.name);
    const [name, value] = param.split('=') as [string, string];
    const already = paramOptions(snapshot.iommu.cmdline, name).includes(value);
    const where = `the firmware's boot framebuffer (${fb.name} at ${hex(fb.start)}-${hex(fb.end)} in /proc/iomem) lies in BAR ${bar.bar} of this GPU: the host keeps that memory and the VM start fails with "BAR ${bar.bar}: can't reserve"`;
    const fix = already
      ? `the command line already has \`${param}\`, yet the framebuffer is registered: check that this kernel was booted with the current command line (\`cat /proc/cmdline\`) and for a built-in simpledrm/simplefb`
      : `${addParamAdvice(param, snapshot.iommu)}, then reboot (the host loses its text console on this GPU)`;
    return { name: 'boot-framebuffer', status: 'warn', message: `${where}; fix: ${fix}` };
  }
  return { name: 'boot-framebuffer', status: 'pass', message: 'no firmware framebuffer in its BARs' };
}

/**
 * Checks for one device. Managed devices get every check that applies; any other device only the
 * config-space failure (a dead device is worth saying wherever it is, a host GPU's own framebuffer is not).
 */
export function deviceHealth(d: PciDevice, snapshot: Pick<Snapshot, 'hostHealth' | 'iommu'>, managed: boolean): HealthCheck[] {
  if (d.health.configAllOnes) return [{ name: 'config-space', status: 'fail', message: deadReason(d.address) }];
  if (!managed) return [];
  const checks: HealthCheck[] = [resetCheck(d, snapshot.hostHealth.vendorResetLoaded), { name: 'config-space', status: 'pass', message: 'config space answers' }];
  const fb = framebufferCheck(d, snapshot);
  if (fb) checks.push(fb);
  return checks;
}
