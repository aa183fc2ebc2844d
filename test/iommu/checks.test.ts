import { describe, expect, it } from 'vitest';
import { verifyIommu } from '../../src/iommu/checks.js';
import type { Check, IommuReport } from '../../src/model.js';
import { amdHostFacts, device, groups, intelHostFacts, iommuOff } from './facts-fixtures.js';

function check(report: IommuReport, name: string): Check {
  const found = report.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no check named ${name} in ${report.checks.map((c) => c.name).join(', ')}`);
  return found;
}

const failing = (report: IommuReport): string[] => report.checks.filter((c) => c.status === 'fail').map((c) => c.name);

describe('verifyIommu', () => {
  it('reports the thirteen checks under stable names, in a stable order', () => {
    const report = verifyIommu(intelHostFacts(), groups(3), []);
    expect(report.checks.map((c) => c.name)).toEqual([
      'virtualization', 'acpi-table', 'iommu-units', 'dma-remapping', 'no-iommu-mode', 'device-groups', 'acs-override',
      'interrupt-remapping', 'passthrough-mode', 'vfio-modules', 'stale-virqfd', 'modprobe-ids', 'kernel-cmdline',
    ]);
  });

  it('Intel host with VT-d on: enabled, intel-vt-d, everything passes', () => {
    const report = verifyIommu(intelHostFacts(), groups(14), [device('0000:01:00.0')]);
    expect(report).toMatchObject({ enabled: true, kind: 'intel-vt-d', groupCount: 14, interruptRemapping: 'enabled' });
    expect(report.checks.filter((c) => c.status !== 'pass')).toEqual([]);
    expect(check(report, 'dma-remapping').message).toContain('14 IOMMU group(s)');
    expect(check(report, 'kernel-cmdline').message).toContain('update-grub');
  });

  it('AMD host booted by proxmox-boot-tool: amd-vi, and the cmdline advice names /etc/kernel/cmdline and proxmox-boot-tool refresh', () => {
    const report = verifyIommu(amdHostFacts({ bootloader: 'proxmox-boot-tool', kernelCmdlineFile: true, cmdline: 'initrd=\\EFI\\proxmox\\6.8.12-4-pve\\initrd.img-6.8.12-4-pve root=ZFS=rpool/ROOT/pve-1 boot=zfs' }), groups(20), []);
    expect(report).toMatchObject({ enabled: true, kind: 'amd-vi', groupCount: 20 });
    expect(failing(report)).toEqual([]);
    const cmdline = check(report, 'kernel-cmdline');
    expect(cmdline.status).toBe('pass');
    expect(cmdline.message).toContain('/etc/kernel/cmdline');
    expect(cmdline.message).toContain('`proxmox-boot-tool refresh`');
    expect(check(report, 'virtualization').message).toContain('svm');
  });

  it('IOMMU off on Intel with GRUB and a kernel not default-on: the one fix is intel_iommu=on in /etc/default/grub + update-grub', () => {
    const facts = intelHostFacts({ ...iommuOff, kernelConfig: { CONFIG_INTEL_IOMMU: 'y', CONFIG_INTEL_IOMMU_DEFAULT_ON: 'n' } });
    const report = verifyIommu(facts, [], []);
    expect(report).toMatchObject({ enabled: false, kind: 'intel-vt-d', groupCount: 0 });
    const dma = check(report, 'dma-remapping');
    expect(dma.status).toBe('fail');
    expect(dma.message).toContain('add `intel_iommu=on` to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, run `update-grub`, then reboot');
    expect(dma.message).toContain('CONFIG_INTEL_IOMMU_DEFAULT_ON');
    expect(dma.message).not.toMatch(/amd_iommu|proxmox-boot-tool|firmware/);
    expect(check(report, 'iommu-units').status).toBe('fail');
    expect(check(report, 'acpi-table').status).toBe('pass');
  });

  it('IOMMU off on Intel when the kernel is default-on (Debian INTGPU_OFF variant): never advises intel_iommu=on, points at the kernel log', () => {
    const facts = intelHostFacts({ ...iommuOff, kernelConfig: { CONFIG_INTEL_IOMMU_DEFAULT_ON: 'n', CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF: 'y' } });
    const message = check(verifyIommu(facts, [], []), 'dma-remapping').message;
    expect(message).not.toContain('add `intel_iommu=on`');
    expect(message).toContain('journalctl -k -b');
  });

  it('IOMMU off on Intel with systemd-boot: intel_iommu=on goes into /etc/kernel/cmdline and kernel-install for the running release', () => {
    const facts = intelHostFacts({ ...iommuOff, kernelConfig: {}, bootloader: 'systemd-boot', kernelRelease: '6.12.9-amd64', cmdline: 'initrd=\\EFI\\debian\\6.12.9-amd64\\initrd.img-6.12.9-amd64 root=/dev/sda2 ro quiet' });
    expect(check(verifyIommu(facts, [], []), 'dma-remapping').message).toContain(
      'add `intel_iommu=on` to /etc/kernel/cmdline (one line), run `kernel-install add 6.12.9-amd64 /boot/vmlinuz-6.12.9-amd64`',
    );
  });

  it('Intel with intel_iommu=off on the command line: the fix is to remove it, not to add anything', () => {
    const facts = intelHostFacts({ ...iommuOff, cmdline: 'root=/dev/sda1 ro intel_iommu=off quiet', bootloader: 'proxmox-boot-tool', kernelCmdlineFile: true });
    const dma = check(verifyIommu(facts, [], []), 'dma-remapping');
    expect(dma.status).toBe('fail');
    expect(dma.message).toContain('Fix: remove `intel_iommu=off` from /etc/kernel/cmdline');
    expect(dma.message).toContain('`proxmox-boot-tool refresh`, then reboot');
    expect(dma.message).not.toContain('add `');
  });

  it('a GRUB-booted Proxmox host (proxmox-boot-tool, no /etc/kernel/cmdline): edit /etc/default/grub, then proxmox-boot-tool refresh', () => {
    const facts = intelHostFacts({ ...iommuOff, cmdline: 'root=/dev/sda1 ro intel_iommu=off quiet', bootloader: 'proxmox-boot-tool', kernelCmdlineFile: false });
    const dma = check(verifyIommu(facts, [], []), 'dma-remapping');
    expect(dma.message).toContain('Fix: remove `intel_iommu=off` from GRUB_CMDLINE_LINUX_DEFAULT or GRUB_CMDLINE_LINUX in /etc/default/grub, run `proxmox-boot-tool refresh`, then reboot');
    expect(dma.message).not.toContain('/etc/kernel/cmdline');
  });

  it('a later intel_iommu=on overrides an earlier off, so off is not blamed', () => {
    const facts = intelHostFacts({ ...iommuOff, cmdline: 'intel_iommu=off intel_iommu=on' });
    const message = check(verifyIommu(facts, [], []), 'dma-remapping').message;
    expect(message).not.toContain('remove');
    expect(message).toContain('intel_iommu=on is already on the command line');
  });

  it('AMD with amd_iommu=off: remove it; never advises amd_iommu=on', () => {
    const facts = amdHostFacts({ ...iommuOff, cmdline: 'root=ZFS=rpool/ROOT/pve-1 boot=zfs amd_iommu=off', bootloader: 'grub' });
    const dma = check(verifyIommu(facts, [], []), 'dma-remapping');
    expect(dma.message).toContain('Fix: remove `amd_iommu=off` from GRUB_CMDLINE_LINUX_DEFAULT or GRUB_CMDLINE_LINUX in /etc/default/grub, run `update-grub`, then reboot');
    expect(dma.message).not.toContain('add `amd_iommu=on`');
  });

  it('AMD without an IVRS table: enable the IOMMU in the firmware setup (SVM already on, so not mentioned)', () => {
    const facts = amdHostFacts({ ...iommuOff, acpiTables: [] });
    const report = verifyIommu(facts, [], []);
    expect(report).toMatchObject({ enabled: false, kind: 'none' });
    const dma = check(report, 'dma-remapping').message;
    expect(dma).toContain('Fix: enable "IOMMU" (AMD-Vi');
    expect(dma).not.toContain('SVM');
    expect(dma).not.toMatch(/amd_iommu|update-grub/);
    expect(check(report, 'acpi-table').status).toBe('fail');
  });

  it('AMD with IVRS and nothing on the command line: says AMD-Vi needs no parameter and where to look', () => {
    const message = check(verifyIommu(amdHostFacts(iommuOff), [], []), 'dma-remapping').message;
    expect(message).toContain('needs no kernel parameter');
    expect(message).not.toContain('add `');
  });

  it('iommu=off blocks both vendors and is named exactly as written', () => {
    const facts = amdHostFacts({ ...iommuOff, cmdline: 'quiet iommu=off' });
    expect(check(verifyIommu(facts, [], []), 'dma-remapping').message).toContain('Fix: remove `iommu=off`');
  });

  it('amd_iommu=on on the command line is flagged as invalid', () => {
    const report = verifyIommu(amdHostFacts({ cmdline: 'quiet amd_iommu=on iommu=pt' }), groups(4), []);
    const cmdline = check(report, 'kernel-cmdline');
    expect(cmdline.status).toBe('warn');
    expect(cmdline.message).toContain('amd_iommu=on');
    expect(cmdline.message).toContain('not a valid value');
  });

  it('groups but no interrupt remapping: warn with the firmware fix and allow_unsafe_interrupts as last resort', () => {
    const report = verifyIommu(intelHostFacts({ interruptRemapping: 'not-seen' }), groups(5), []);
    expect(report.enabled).toBe(true);
    expect(report.interruptRemapping).toBe('not-seen');
    const ir = check(report, 'interrupt-remapping');
    expect(ir.status).toBe('warn');
    expect(ir.message).toContain('No interrupt remapping support');
    expect(ir.message).toContain('allow_unsafe_interrupts=1');
  });

  it('intremap=off on the command line is the exact cause to remove', () => {
    const facts = intelHostFacts({ interruptRemapping: 'not-seen', cmdline: 'quiet intremap=off', bootloader: 'grub' });
    expect(check(verifyIommu(facts, groups(5), []), 'interrupt-remapping').message).toContain('Fix: remove `intremap=off`');
  });

  it('a kernel built without CONFIG_IRQ_REMAP is named as the cause', () => {
    const facts = intelHostFacts({ interruptRemapping: 'not-seen', kernelConfig: { CONFIG_IRQ_REMAP: 'n' } });
    const ir = check(verifyIommu(facts, groups(5), []), 'interrupt-remapping');
    expect(ir.status).toBe('warn');
    expect(ir.message).toContain('CONFIG_IRQ_REMAP is not set in /boot/config-6.8.12-4-pve');
  });

  it('on a non-x86 host the missing IR- chips are not held against it', () => {
    const facts = intelHostFacts({ cpuVendor: null, cpuFlags: [], acpiTables: ['IORT'], iommuUnits: [{ name: 'smmu3.0x0000000005000000', kind: 'other' }], interruptRemapping: 'not-seen' });
    const report = verifyIommu(facts, groups(5), []);
    expect(report.kind).toBe('other');
    expect(check(report, 'interrupt-remapping').status).toBe('pass');
    expect(check(report, 'virtualization').status).toBe('pass');
  });

  it('allow_unsafe_interrupts=Y without remapping: unsafe-allowed', () => {
    const report = verifyIommu(intelHostFacts({ interruptRemapping: 'not-seen', allowUnsafeInterrupts: true }), groups(5), []);
    expect(report.interruptRemapping).toBe('unsafe-allowed');
    const ir = check(report, 'interrupt-remapping');
    expect(ir.status).toBe('warn');
    expect(ir.message).toContain('unsafe-allowed');
  });

  it('no-IOMMU mode groups: groups present but enabled=false and the check fails', () => {
    const report = verifyIommu(intelHostFacts({ ...iommuOff, unsafeNoIommuMode: true, cmdline: 'vfio.enable_unsafe_noiommu_mode=1' }), groups(2, 'DMA', 'vfio-noiommu'), []);
    expect(report.enabled).toBe(false);
    expect(report.groupCount).toBe(2);
    const noIommu = check(report, 'no-iommu-mode');
    expect(noIommu.status).toBe('fail');
    expect(noIommu.message).toContain('named vfio-noiommu');
    expect(noIommu.message).toContain('Fix: remove `vfio.enable_unsafe_noiommu_mode=1`');
    expect(check(report, 'dma-remapping').status).toBe('fail');
  });

  it('enable_unsafe_noiommu_mode=Y with real groups: IOMMU on, a warning naming the devices without a group', () => {
    const report = verifyIommu(intelHostFacts({ unsafeNoIommuMode: true }), groups(3), [device('0000:01:00.0', { iommuGroup: 1 }), device('0000:00:1f.6', { iommuGroup: null, classCode: 0x020000 })]);
    expect(report.enabled).toBe(true);
    const noIommu = check(report, 'no-iommu-mode');
    expect(noIommu.status).toBe('warn');
    expect(noIommu.message).toContain('devices in real IOMMU groups stay isolated and are bound as usual');
    expect(noIommu.message).toContain('1 device(s) without an IOMMU group of their own (0000:00:1f.6)');
    expect(noIommu.message).toContain('options vfio enable_unsafe_noiommu_mode=1');
  });

  it('vfio-pci not loaded: warn that the daemon will modprobe it, and that /dev/vfio/vfio proves nothing', () => {
    const facts = intelHostFacts({ vfioPciRegistered: false, devVfio: true, modules: { vfio: 'absent', vfio_iommu_type1: 'absent', vfio_pci: 'absent' } });
    const vfio = check(verifyIommu(facts, groups(3), []), 'vfio-modules');
    expect(vfio.status).toBe('warn');
    expect(vfio.message).toContain('modprobe vfio-pci');
    expect(vfio.message).toContain('proves nothing');
    expect(vfio.message).toContain('modprobe vfio_iommu_type1');
    expect(vfio.message).toContain('/etc/modules-load.d/vfio.conf');
  });

  it('a kernel built without VFIO fails the vfio-modules check', () => {
    const facts = intelHostFacts({ vfioPciRegistered: false, kernelConfig: { CONFIG_VFIO: 'n' } });
    expect(check(verifyIommu(facts, groups(3), []), 'vfio-modules').status).toBe('fail');
  });

  it('stale vfio_virqfd on 6.1 is still a real module: pass, with the advice for later', () => {
    const staleVirqfd = [{ file: '/etc/modules', line: 3, text: 'vfio_virqfd' }];
    const virqfd = check(verifyIommu(intelHostFacts({ kernelRelease: '6.1.0-28-amd64', staleVirqfd }), groups(3), []), 'stale-virqfd');
    expect(virqfd.status).toBe('pass');
    expect(virqfd.message).toContain('separate module');
  });

  it('stale vfio_virqfd on 6.8: warn with "delete line N of FILE"', () => {
    const staleVirqfd = [
      { file: '/etc/modules', line: 3, text: 'vfio_virqfd' },
      { file: '/etc/initramfs-tools/modules', line: 7, text: 'vfio_virqfd' },
    ];
    const virqfd = check(verifyIommu(intelHostFacts({ kernelRelease: '6.8.12-4-pve', staleVirqfd }), groups(3), []), 'stale-virqfd');
    expect(virqfd.status).toBe('warn');
    expect(virqfd.message).toContain('delete line 3 of /etc/modules, line 7 of /etc/initramfs-tools/modules');
    expect(virqfd.message).toContain('update-initramfs -u -k all');
    expect(virqfd.message).not.toMatch(/modprobe vfio_virqfd|add vfio_virqfd/);
  });

  it('ids= with a built-in vfio-pci: warn that it has no effect, name the file and line', () => {
    const modprobeIds = [{ file: '/etc/modprobe.d/vfio.conf', line: 2, ids: ['10de:1b80', '10de:10f0'] }];
    const facts = intelHostFacts({ modprobeIds, modules: { vfio: 'builtin', vfio_iommu_type1: 'builtin', vfio_pci: 'builtin' } });
    const ids = check(verifyIommu(facts, groups(3), []), 'modprobe-ids');
    expect(ids.status).toBe('warn');
    expect(ids.message).toContain('/etc/modprobe.d/vfio.conf line 2 (ids=10de:1b80,10de:10f0)');
    expect(ids.message).toContain('vfio-pci.ids=');
    expect(ids.message).toContain('driver_override');
  });

  it('ids= with vfio-pci as a module works, but is reported as unnecessary', () => {
    const modprobeIds = [{ file: '/etc/modprobe.d/vfio.conf', line: 1, ids: ['10de:1b80'] }];
    const ids = check(verifyIommu(intelHostFacts({ modprobeIds }), groups(3), []), 'modprobe-ids');
    expect(ids.status).toBe('pass');
    expect(ids.message).toContain('unnecessary');
  });

  it('iommu=pt: identity domains reported as passthrough mode (informational pass)', () => {
    const report = verifyIommu(intelHostFacts({ cmdline: 'quiet intel_iommu=on iommu=pt' }), groups(6, 'identity'), []);
    const pt = check(report, 'passthrough-mode');
    expect(pt.status).toBe('pass');
    expect(pt.message).toContain('iommu=pt');
    expect(pt.message).toContain('6 identity');
    expect(report.enabled).toBe(true);
  });

  it('endpoints without a group are named; bridges and the AMD IOMMU function are not', () => {
    const devices = [
      device('0000:00:00.0', { classCode: 0x060000, iommuGroup: null }),
      device('0000:00:00.2', { classCode: 0x080600, iommuGroup: null }),
      device('0000:00:1c.0', { classCode: 0x060400, headerType: 1, iommuGroup: null }),
      device('0000:05:00.0', { iommuGroup: null }),
      device('0000:01:00.0', { iommuGroup: 3 }),
    ];
    const groupsCheck = check(verifyIommu(amdHostFacts(), groups(4), devices), 'device-groups');
    expect(groupsCheck.status).toBe('warn');
    expect(groupsCheck.message).toContain('1 endpoint device(s) have no IOMMU group');
    expect(groupsCheck.message).toContain('0000:05:00.0');
    expect(groupsCheck.message).not.toMatch(/0000:00:00\.[02]|0000:00:1c\.0/);
  });

  it('no vmx flag on Intel: warn to enable VT-x', () => {
    const virt = check(verifyIommu(intelHostFacts({ cpuFlags: ['fpu', 'sse2'] }), groups(2), []), 'virtualization');
    expect(virt.status).toBe('warn');
    expect(virt.message).toContain('VT-x');
  });
});
