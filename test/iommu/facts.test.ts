import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readIommuFacts } from '../../src/iommu/facts.js';
import { fileContains } from '../../src/iommu/files.js';
import { verifyIommu } from '../../src/iommu/checks.js';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'iommu-facts-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Writes files (relative paths → content) and directories (content `null`) under the temp root. */
async function tree(entries: Record<string, string | null>): Promise<void> {
  for (const [path, content] of Object.entries(entries)) {
    const full = join(root, path);
    if (content === null) {
      await mkdir(full, { recursive: true });
    } else {
      await mkdir(dirname(full), { recursive: true });
      await writeFile(full, content);
    }
  }
}

const CPUINFO_INTEL = [
  'processor\t: 0', 'vendor_id\t: GenuineIntel', 'model name\t: Intel(R) Xeon(R) E-2236',
  'flags\t\t: fpu vme de pse tsc msr vmx sse2 x2apic', '',
  'processor\t: 1', 'vendor_id\t: GenuineIntel', 'flags\t\t: fpu only-second-cpu', '', '',
].join('\n');

const INTERRUPTS_IR = [
  '            CPU0       CPU1',
  '   0:         35          0   IR-IO-APIC    2-edge      timer',
  ' 120:          0      10911   IR-PCI-MSI-0000:00:17.0    0-edge      ahci[0000:00:17.0]',
].join('\n');

const INTERRUPTS_NO_IR = [
  '            CPU0       CPU1',
  '   0:         35          0   IO-APIC    2-edge      timer',
  '  24:          0      10911   PCI-MSI 512000-edge      ahci[0000:00:1f.2]',
].join('\n');

describe('readIommuFacts', () => {
  it('an empty root is normal: every fact falls back to absent/unknown, nothing throws', async () => {
    const facts = await readIommuFacts(root);
    expect(facts).toEqual({
      cpuVendor: null,
      cpuFlags: [],
      acpiTables: [],
      iommuUnits: [],
      unsafeNoIommuMode: null,
      interruptRemapping: 'unknown',
      allowUnsafeInterrupts: null,
      vfioPciRegistered: false,
      devVfio: false,
      modules: { vfio: 'absent', vfio_iommu_type1: 'absent', vfio_pci: 'absent' },
      kernelRelease: null,
      cmdline: '',
      kernelConfig: null,
      staleVirqfd: [],
      modprobeIds: [],
      bootloader: 'unknown',
      kernelCmdlineFile: false,
      efiBoot: false,
    });
  });

  it('reads an Intel Proxmox host: first CPU only, tables, units, IR, params, modules, kernel config', async () => {
    await tree({
      'proc/cpuinfo': CPUINFO_INTEL,
      'proc/interrupts': INTERRUPTS_IR,
      'proc/sys/kernel/osrelease': '6.8.12-4-pve\n',
      'proc/cmdline': 'BOOT_IMAGE=/vmlinuz root=ZFS=rpool/ROOT/pve-1 boot=zfs iommu=pt\n',
      'proc/modules': 'vfio_pci 16384 0 - Live 0x0\nvfio_iommu_type1 45056 0 - Live 0x0\nkvm_intel 380928 0 - Live 0x0\n',
      'sys/firmware/acpi/tables/DMAR': 'x',
      'sys/firmware/acpi/tables/APIC': 'x',
      'sys/class/iommu/dmar0': null,
      'sys/class/iommu/dmar1': null,
      'sys/module/vfio/parameters/enable_unsafe_noiommu_mode': 'N\n',
      'sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts': 'N\n',
      'sys/bus/pci/drivers/vfio-pci': null,
      'dev/vfio/vfio': '',
      'lib/modules/6.8.12-4-pve/modules.builtin': 'kernel/drivers/vfio/vfio.ko\nkernel/drivers/iommu/iommufd/iommufd.ko\n',
      'boot/config-6.8.12-4-pve': [
        '# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set', 'CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF=y', 'CONFIG_INTEL_IOMMU=y',
        'CONFIG_VFIO=y', 'CONFIG_VFIO_PCI=m', 'CONFIG_UNRELATED=y', '',
      ].join('\n'),
      'etc/kernel/proxmox-boot-uuids': '1234-ABCD\n',
      'etc/kernel/cmdline': 'root=ZFS=rpool/ROOT/pve-1 boot=zfs\n',
    });
    const facts = await readIommuFacts(root);
    expect(facts).toMatchObject({
      cpuVendor: 'intel',
      cpuFlags: ['fpu', 'vme', 'de', 'pse', 'tsc', 'msr', 'vmx', 'sse2', 'x2apic'],
      acpiTables: ['DMAR'],
      iommuUnits: [{ name: 'dmar0', kind: 'intel' }, { name: 'dmar1', kind: 'intel' }],
      unsafeNoIommuMode: false,
      interruptRemapping: 'enabled',
      allowUnsafeInterrupts: false,
      vfioPciRegistered: true,
      devVfio: true,
      modules: { vfio: 'builtin', vfio_iommu_type1: 'loaded', vfio_pci: 'loaded' },
      kernelRelease: '6.8.12-4-pve',
      cmdline: 'BOOT_IMAGE=/vmlinuz root=ZFS=rpool/ROOT/pve-1 boot=zfs iommu=pt',
      kernelConfig: {
        CONFIG_INTEL_IOMMU_DEFAULT_ON: 'n', CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF: 'y', CONFIG_INTEL_IOMMU: 'y',
        CONFIG_VFIO: 'y', CONFIG_VFIO_PCI: 'm',
      },
      bootloader: 'proxmox-boot-tool',
      kernelCmdlineFile: true,
    });
    expect(facts.kernelConfig).not.toHaveProperty('CONFIG_UNRELATED');
  });

  it('AMD host without interrupt remapping, unsafe params set, vfio-pci built in (modules.builtin spells it vfio-pci.ko)', async () => {
    await tree({
      'proc/cpuinfo': 'processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu svm\n',
      'proc/interrupts': INTERRUPTS_NO_IR,
      'proc/sys/kernel/osrelease': '6.1.0-28-amd64\n',
      'sys/firmware/acpi/tables/IVRS': 'x',
      'sys/class/iommu/ivhd0': null,
      'sys/module/vfio/parameters/enable_unsafe_noiommu_mode': 'Y\n',
      'sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts': 'Y\n',
      'lib/modules/6.1.0-28-amd64/modules.builtin': 'kernel/drivers/vfio/pci/vfio-pci.ko\nkernel/drivers/vfio/vfio_iommu_type1.ko\n',
      'etc/default/grub': 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n',
    });
    const facts = await readIommuFacts(root);
    expect(facts).toMatchObject({
      cpuVendor: 'amd',
      acpiTables: ['IVRS'],
      iommuUnits: [{ name: 'ivhd0', kind: 'amd' }],
      unsafeNoIommuMode: true,
      interruptRemapping: 'not-seen',
      allowUnsafeInterrupts: true,
      modules: { vfio: 'absent', vfio_iommu_type1: 'builtin', vfio_pci: 'builtin' },
      kernelConfig: null,
      bootloader: 'grub',
    });
  });

  it('finds vfio_virqfd lines with their line numbers, skipping comments and non-.conf files', async () => {
    await tree({
      'etc/modules': '# /etc/modules\n# vfio_virqfd (old guide)\nvfio\nvfio_iommu_type1\nvfio_pci\nvfio_virqfd\n',
      'etc/modules-load.d/vfio.conf': 'vfio-virqfd\n',
      'etc/modules-load.d/vfio.conf.bak': 'vfio_virqfd\n',
      'etc/modules-load.d/other.conf': 'br_netfilter\n',
      'etc/initramfs-tools/modules': 'vfio\n  vfio_virqfd  \n',
    });
    const facts = await readIommuFacts(root);
    expect(facts.staleVirqfd).toEqual([
      { file: '/etc/modules', line: 6, text: 'vfio_virqfd' },
      { file: '/etc/modules-load.d/vfio.conf', line: 1, text: 'vfio-virqfd' },
      { file: '/etc/initramfs-tools/modules', line: 2, text: '  vfio_virqfd  ' },
    ]);
  });

  it('parses `options vfio-pci ids=` in both spellings, with other options, comments and continuations', async () => {
    await tree({
      'etc/modprobe.d/vfio.conf': [
        '# options vfio-pci ids=1111:2222',
        'options vfio-pci ids=10de:1b80,10de:10f0 disable_vga=1',
        'options vfio_pci disable_vga=1 ids="8086:1533"  # the second NIC',
        'softdep nvidia pre: vfio-pci',
        'options vfio-pci \\',
        '  ids=1002:67df,1002:aaf0',
        'options vfio_iommu_type1 allow_unsafe_interrupts=1',
      ].join('\n'),
      'etc/modprobe.d/blacklist.conf': 'blacklist nouveau\n',
      'etc/modprobe.d/old.conf.dpkg-old': 'options vfio-pci ids=dead:beef\n',
    });
    const facts = await readIommuFacts(root);
    expect(facts.modprobeIds).toEqual([
      { file: '/etc/modprobe.d/vfio.conf', line: 2, ids: ['10de:1b80', '10de:10f0'] },
      { file: '/etc/modprobe.d/vfio.conf', line: 3, ids: ['8086:1533'] },
      { file: '/etc/modprobe.d/vfio.conf', line: 5, ids: ['1002:67df', '1002:aaf0'] },
    ]);
  });

  it('tells the boot loaders apart', async () => {
    await tree({ 'etc/kernel/cmdline': 'root=/dev/sda2 quiet\n' });
    expect((await readIommuFacts(root)).bootloader).toBe('systemd-boot');
    await tree({ 'etc/default/grub': 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n' });
    expect((await readIommuFacts(root)).bootloader).toBe('grub');
    await tree({ 'etc/kernel/proxmox-boot-uuids': 'ABCD-1234\n' });
    expect((await readIommuFacts(root)).bootloader).toBe('proxmox-boot-tool');
  });

  it('picks up an edited /boot/config on the next read', async () => {
    await tree({ 'proc/sys/kernel/osrelease': '6.8.0-1\n', 'boot/config-6.8.0-1': 'CONFIG_VFIO_PCI=m\n' });
    expect((await readIommuFacts(root)).kernelConfig).toEqual({ CONFIG_VFIO_PCI: 'm' });
    await tree({ 'boot/config-6.8.0-1': 'CONFIG_VFIO_PCI=y\nCONFIG_VFIO=y\n' });
    const facts = await readIommuFacts(root);
    expect(facts.kernelConfig).toEqual({ CONFIG_VFIO_PCI: 'y', CONFIG_VFIO: 'y' });
    expect(facts.modules.vfio_pci).toBe('builtin');
  });

  it('feeds the checks end to end: Intel IOMMU off under GRUB yields the intel_iommu=on fix', async () => {
    await tree({
      'proc/cpuinfo': CPUINFO_INTEL,
      'proc/interrupts': INTERRUPTS_NO_IR,
      'proc/sys/kernel/osrelease': '6.1.0-28-amd64\n',
      'proc/cmdline': 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=/dev/sda1 ro quiet\n',
      'sys/firmware/acpi/tables/DMAR': 'x',
      'boot/config-6.1.0-28-amd64': '# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set\nCONFIG_INTEL_IOMMU=y\n',
      'etc/default/grub': 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n',
    });
    const report = verifyIommu(await readIommuFacts(root), [], []);
    expect(report.enabled).toBe(false);
    expect(report.kind).toBe('intel-vt-d');
    expect(report.checks.find((c) => c.name === 'dma-remapping')?.message)
      .toContain('add `intel_iommu=on` to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, run `update-grub`, then reboot');
  });
});

describe('fileContains', () => {
  it('finds a needle that straddles a read-chunk boundary, and answers false/null correctly', async () => {
    const path = join(root, 'interrupts');
    const filler = 'x'.repeat(64 * 1024 - 2);
    await writeFile(path, `${filler} IR-PCI-MSI\n`);
    expect(await fileContains(path, ' IR-')).toBe(true);
    await writeFile(path, `${filler} PCI-MSI\n`);
    expect(await fileContains(path, ' IR-')).toBe(false);
    expect(await fileContains(join(root, 'missing'), ' IR-')).toBeNull();
  });
});
