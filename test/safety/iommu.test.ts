import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Check, IommuReport, Plan } from '../../src/model.js';
import { amdHost, SEED, seedIntel } from '../fake/hosts.js';
import type { FakeHost, HostSpec } from '../fake/tree.js';
import { assessOn as assessHost } from '../helpers/assess.js';
import { useFakeHosts } from '../helpers/fake-hosts.js';

const hostOf = useFakeHosts();

async function assessOn(spec: HostSpec, toml: string, change: (host: FakeHost) => void = () => {}): Promise<{ plan: Plan; report: IommuReport }> {
  const host = await hostOf(spec);
  change(host);
  const a = await assessHost(host, toml);
  return { plan: a.plan, report: a.report };
}

function check(report: IommuReport, name: string): Check {
  const c = report.checks.find((x) => x.name === name);
  if (!c) throw new Error(`no check ${name}`);
  return c;
}

const write = (host: FakeHost, path: string, text: string) => {
  mkdirSync(join(host.root, path, '..'), { recursive: true });
  writeFileSync(join(host.root, path), text);
};

describe('vfio no-IOMMU mode on a host with real IOMMU groups', () => {
  const NO_GROUP_NIC = '0000:00:1f.6';
  function spec(): HostSpec {
    const s = seedIntel();
    // An onboard NIC the firmware leaves outside every DMAR unit: no iommu_group link.
    s.devices.push({ address: NO_GROUP_NIC, vendor: 0x8086, device: 0x15b8, classCode: 0x020000, driver: 'e1000e', group: null, net: [{ name: 'eno2', up: false }] });
    s.drivers.e1000e = { ids: ['8086:15b8'], loaded: true };
    return s;
  }
  const toml = `[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n[[device]]\naddress = "${NO_GROUP_NIC}"\n`;
  const noiommuOn = (host: FakeHost) => write(host, 'sys/module/vfio/parameters/enable_unsafe_noiommu_mode', 'Y\n');

  it('binds the devices that have a group, blocks the one without, and warns (it no longer says "the IOMMU is off")', async () => {
    const { plan, report } = await assessOn(spec(), toml, noiommuOn);
    expect(report.enabled).toBe(true);
    expect(plan.verdicts.find((v) => v.address === SEED.gpu)?.state).toBe('pending');
    expect(plan.verdicts.find((v) => v.address === SEED.gpuAudio)?.state).toBe('pending');
    const nic = plan.verdicts.find((v) => v.address === NO_GROUP_NIC);
    expect(nic).toMatchObject({ state: 'blocked', reason: 'has no IOMMU group: it is not behind a translating IOMMU, and vfio-pci would refuse it' });
    const c = check(report, 'no-iommu-mode');
    expect(c.status).toBe('warn');
    expect(c.message).toContain(`1 device(s) without an IOMMU group of their own (${NO_GROUP_NIC})`);
    expect(c.message).toContain('pcie-passthroughd does not bind them');
  });

  it('a device already put in a vfio-noiommu group is not taken for a real one', async () => {
    const { plan } = await assessOn(spec(), toml, (host) => {
      noiommuOn(host);
      // What vfio_noiommu_group_alloc leaves: a group named vfio-noiommu holding the NIC.
      const group = join(host.root, 'sys/kernel/iommu_groups/40');
      mkdirSync(join(group, 'devices'), { recursive: true });
      writeFileSync(join(group, 'name'), 'vfio-noiommu\n');
      writeFileSync(join(group, 'type'), 'blocked\n');
      symlinkSync('../../../../kernel/iommu_groups/40', join(host.deviceDir(NO_GROUP_NIC), 'iommu_group'));
    });
    expect(plan.verdicts.find((v) => v.address === NO_GROUP_NIC)?.reason).toBe('has no IOMMU group of its own: vfio no-IOMMU mode put it in group 40 (vfio-noiommu), which isolates nothing');
    expect(plan.verdicts.find((v) => v.address === SEED.gpu)?.state).toBe('pending');
  });
});

describe('ACS override', () => {
  it('pcie_acs_override on the command line is a warning that names the risk and the fix for this boot loader', async () => {
    const s = seedIntel();
    s.cmdline += ' pcie_acs_override=downstream,multifunction';
    const { report } = await assessOn(s, '');
    const c = check(report, 'acs-override');
    expect(c.status).toBe('warn');
    expect(c.message).toContain('The command line has pcie_acs_override=downstream,multifunction');
    expect(c.message).toContain('The groups shown are not a safety boundary');
    expect(c.message).toContain('remove `pcie_acs_override=downstream,multifunction` from GRUB_CMDLINE_LINUX_DEFAULT or GRUB_CMDLINE_LINUX in /etc/default/grub, run `update-grub`, then reboot');
    const { report: plain } = await assessOn(seedIntel(), '');
    expect(check(plain, 'acs-override').status).toBe('pass');
  });
});

describe('the fix text on Proxmox hosts (proxmox-boot-tool)', () => {
  it('GRUB-booted Proxmox ZFS host (legacy BIOS): edit /etc/default/grub, even though /etc/kernel/cmdline exists', async () => {
    const s = amdHost();
    s.cmdline = `BOOT_IMAGE=/ROOT/pve-1@/boot/vmlinuz-${s.kernelRelease} root=ZFS=rpool/ROOT/pve-1 ro boot=zfs quiet iommu=pt pcie_acs_override=downstream`;
    const { report } = await assessOn(s, '');
    const c = check(report, 'kernel-cmdline');
    expect(c.message).toBe('Kernel command line comes from proxmox-boot-tool with GRUB (/etc/kernel/proxmox-boot-uuids; BOOT_IMAGE= in /proc/cmdline: GRUB booted this kernel): to change it, edit GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, run `proxmox-boot-tool refresh`, then reboot');
    expect(check(report, 'acs-override').message).toContain('from GRUB_CMDLINE_LINUX_DEFAULT or GRUB_CMDLINE_LINUX in /etc/default/grub, run `proxmox-boot-tool refresh`');
  });

  it('systemd-boot-booted Proxmox host (initrd=\\EFI\\…): edit /etc/kernel/cmdline', async () => {
    const { report } = await assessOn(amdHost(), '');
    expect(check(report, 'kernel-cmdline').message).toContain('proxmox-boot-tool with systemd-boot');
    expect(check(report, 'kernel-cmdline').message).toContain('edit /etc/kernel/cmdline (one line), run `proxmox-boot-tool refresh`');
  });

  it('no evidence on the command line: no /sys/firmware/efi (legacy BIOS) means GRUB', async () => {
    const s = amdHost();
    s.cmdline = 'root=ZFS=rpool/ROOT/pve-1 boot=zfs';
    const { report } = await assessOn(s, '');
    expect(check(report, 'kernel-cmdline').message).toContain('edit GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, run `proxmox-boot-tool refresh`');
    const { report: efi } = await assessOn(s, '', (host) => mkdirSync(join(host.root, 'sys/firmware/efi'), { recursive: true }));
    expect(check(efi, 'kernel-cmdline').message).toContain('edit /etc/kernel/cmdline (one line)');
  });
});
