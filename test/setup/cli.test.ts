import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit.js';
import type { FakeHost, HostSpec } from '../fake/tree.js';
import { runCtl } from '../helpers/run.js';
import {
  amdWithAmdIommuOn,
  buildSetupHost,
  DEBIAN_GRUB,
  debianGrub,
  preparedHost,
  pveGrub,
  pveSystemdBoot,
  unparseableGrub,
  virqfdHost,
  type Overrides,
} from './hosts.js';

const hosts: FakeHost[] = [];
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup();
});

async function host(make: () => { spec: HostSpec; overrides: Overrides }): Promise<FakeHost> {
  const { spec, overrides } = make();
  const h = await buildSetupHost(spec, overrides);
  hosts.push(h);
  return h;
}

interface SetupJson {
  status: string;
  edits: { path: string; created: boolean; why: string[]; diff: string; written: boolean; backup: string | null; error: string | null }[];
  commands: { argv: string[]; why: string; outcome: string; detail: string | null }[];
  refused: { path: string; line: number | null; problem: string; byHand: string }[];
  firmware: { name: string; problem: string; setting: string }[];
  reboot: string[];
}

async function setup(h: FakeHost, ...args: string[]): Promise<{ code: number | null; json: SetupJson; stderr: string }> {
  const r = await runCtl(['--root', h.root, '--json', 'setup', ...args], h.env);
  return { code: r.code, json: JSON.parse(r.stdout) as SetupJson, stderr: r.stderr };
}

const read = (h: FakeHost, path: string): string => readFileSync(join(h.root, path), 'utf8');

/** Every file under etc/ with its content, to prove a run changed nothing. */
function etcSnapshot(h: FakeHost): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(h.root, p)] = readFileSync(p, 'utf8');
    }
  };
  walk(join(h.root, 'etc'));
  return out;
}

const MODULES_DIFF = `--- /dev/null
+++ /etc/modules-load.d/pcie-passthroughd.conf
@@ -0,0 +1,4 @@
+# Written by pcie-passthroughctl setup: VFIO modules loaded at every boot (modules-load.d(5)).
+vfio
+vfio_iommu_type1
+vfio_pci
`;

const GRUB_TOP = ` GRUB_DEFAULT=0
 GRUB_TIMEOUT=5
 GRUB_DISTRIBUTOR=\`( . /etc/os-release && echo \${NAME} )\`
`;

describe('pcie-passthroughctl setup on Proxmox VE, systemd-boot (ZFS, UEFI)', () => {
  it('adds intel_iommu=on to /etc/kernel/cmdline on its one line, writes the modules file, and runs nothing under --root', async () => {
    const h = await host(pveSystemdBoot);
    const dry = await setup(h, '--dry-run');
    expect(dry.code).toBe(EXIT.warning);
    expect(dry.json.status).toBe('pending');
    expect(dry.json.edits.map((e) => e.diff)).toEqual([
      `--- /etc/kernel/cmdline
+++ /etc/kernel/cmdline
@@ -1 +1 @@
-root=ZFS=rpool/ROOT/pve-1 boot=zfs
+root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on
`,
      MODULES_DIFF,
    ]);
    expect(dry.json.edits[0]?.why).toEqual(['add intel_iommu=on: this kernel does not enable the Intel IOMMU by default (no CONFIG_INTEL_IOMMU_DEFAULT_ON=y in /boot/config-6.8.12-4-pve)']);
    expect(dry.json.commands.map((c) => [c.argv.join(' '), c.outcome])).toEqual([['proxmox-boot-tool refresh', 'planned']]);
    expect(read(h, 'etc/kernel/cmdline')).toBe('root=ZFS=rpool/ROOT/pve-1 boot=zfs\n');

    const applied = await setup(h, '--yes');
    expect(applied.code).toBe(EXIT.ok);
    expect(applied.json.status).toBe('applied');
    expect(read(h, 'etc/kernel/cmdline')).toBe('root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on\n');
    expect(read(h, 'etc/kernel/cmdline.pcie-passthroughd.bak')).toBe('root=ZFS=rpool/ROOT/pve-1 boot=zfs\n');
    expect(read(h, 'etc/modules-load.d/pcie-passthroughd.conf')).toBe('# Written by pcie-passthroughctl setup: VFIO modules loaded at every boot (modules-load.d(5)).\nvfio\nvfio_iommu_type1\nvfio_pci\n');
    expect(existsSync(join(h.root, 'etc/modules-load.d/pcie-passthroughd.conf.pcie-passthroughd.bak'))).toBe(false);
    expect(applied.json.edits.map((e) => [e.path, e.written, e.backup])).toEqual([
      ['/etc/kernel/cmdline', true, '/etc/kernel/cmdline.pcie-passthroughd.bak'],
      ['/etc/modules-load.d/pcie-passthroughd.conf', true, null],
    ]);
    expect(applied.json.commands[0]?.outcome).toBe('not-run');
    expect(applied.json.commands[0]?.detail).toMatch(/^not run under --root /);
    expect(applied.json.reboot).toEqual(['kernel command line (+intel_iommu=on)', 'VFIO modules loaded at boot (vfio, vfio_iommu_type1, vfio_pci)']);
  });

  it('a second run changes nothing and says so, and still says the running kernel needs a reboot', async () => {
    const h = await host(pveSystemdBoot);
    expect((await setup(h, '--yes')).code).toBe(EXIT.ok);
    const before = etcSnapshot(h);
    const again = await runCtl(['--root', h.root, 'setup', '--yes'], h.env);
    expect(again.code).toBe(EXIT.ok);
    expect(again.stdout).toBe('Nothing to change: the boot configuration is already prepared.\nreboot to apply: kernel command line (+intel_iommu=on)\n');
    expect(etcSnapshot(h)).toEqual(before);
  });

  it('keeps the first backup when a later run edits the file again', async () => {
    const h = await host(pveSystemdBoot);
    await setup(h, '--yes');
    writeFileSync(join(h.root, 'etc/kernel/cmdline'), 'root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on amd_iommu=on\n');
    const r = await setup(h, '--yes');
    expect(r.json.edits.map((e) => e.diff)).toEqual([
      `--- /etc/kernel/cmdline
+++ /etc/kernel/cmdline
@@ -1 +1 @@
-root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on amd_iommu=on
+root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on
`,
    ]);
    expect(r.json.edits[0]?.backup).toBeNull();
    expect(read(h, 'etc/kernel/cmdline.pcie-passthroughd.bak')).toBe('root=ZFS=rpool/ROOT/pve-1 boot=zfs\n');
  });

  it('joins a /etc/kernel/cmdline split over lines into one, and adds iommu=pt only when asked', async () => {
    const h = await host(pveSystemdBoot);
    writeFileSync(join(h.root, 'etc/kernel/cmdline'), 'root=ZFS=rpool/ROOT/pve-1\nboot=zfs intel_iommu=on\n');
    const r = await setup(h, '--dry-run', '--iommu-pt');
    expect(r.json.edits[0]?.diff).toBe(`--- /etc/kernel/cmdline
+++ /etc/kernel/cmdline
@@ -1,2 +1 @@
-root=ZFS=rpool/ROOT/pve-1
-boot=zfs intel_iommu=on
+root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on iommu=pt
`);
    expect(r.json.edits[0]?.why).toEqual(['add iommu=pt: asked for with --iommu-pt', 'join its 2 lines into one (the boot loader entry takes one line)']);
  });
});

describe('pcie-passthroughctl setup on Proxmox VE without /etc/kernel/cmdline', () => {
  it('creates it from the running command line (what proxmox-boot-tool falls back to), with intel_iommu=on', async () => {
    const { spec, overrides } = pveSystemdBoot();
    const h = await buildSetupHost(spec, { ...overrides, files: { ...overrides.files, 'etc/kernel/cmdline': null } });
    hosts.push(h);
    const r = await setup(h, '--yes');
    expect(r.code).toBe(EXIT.ok);
    expect(r.json.edits[0]).toMatchObject({
      path: '/etc/kernel/cmdline',
      created: true,
      why: ["create it from the running kernel's command line, which `proxmox-boot-tool refresh` uses while it is missing", 'add intel_iommu=on: this kernel does not enable the Intel IOMMU by default (no CONFIG_INTEL_IOMMU_DEFAULT_ON=y in /boot/config-6.8.12-4-pve)'],
      diff: '--- /dev/null\n+++ /etc/kernel/cmdline\n@@ -0,0 +1 @@\n+root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on\n',
    });
    expect(r.json.commands.map((c) => c.argv.join(' '))).toEqual(['proxmox-boot-tool refresh']);
  });
});

describe('pcie-passthroughctl setup with GRUB', () => {
  it('Proxmox VE with GRUB through proxmox-boot-tool: GRUB_CMDLINE_LINUX_DEFAULT, then proxmox-boot-tool refresh', async () => {
    const h = await host(pveGrub);
    const r = await setup(h, '--yes');
    expect(r.code).toBe(EXIT.ok);
    expect(r.json.edits.map((e) => e.diff)).toEqual([
      `--- /etc/default/grub
+++ /etc/default/grub
@@ -4,7 +4,7 @@
${GRUB_TOP}-GRUB_CMDLINE_LINUX_DEFAULT="quiet"
+GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"
 GRUB_CMDLINE_LINUX="root=ZFS=rpool/ROOT/pve-1 boot=zfs"
 
 # Uncomment to disable graphical terminal
`,
      MODULES_DIFF,
    ]);
    expect(r.json.commands.map((c) => c.argv.join(' '))).toEqual(['proxmox-boot-tool refresh']);
    expect(read(h, 'etc/default/grub')).toBe(DEBIAN_GRUB('quiet intel_iommu=on', 'root=ZFS=rpool/ROOT/pve-1 boot=zfs'));
    expect(existsSync(join(h.root, 'etc/kernel/cmdline'))).toBe(false);
  });

  it('plain Debian: removes intel_iommu=off from GRUB_CMDLINE_LINUX, adds intel_iommu=on to the default, then update-grub', async () => {
    const h = await host(debianGrub);
    const r = await setup(h, '--yes');
    expect(r.code).toBe(EXIT.ok);
    expect(r.json.edits.map((e) => e.diff)).toEqual([
      `--- /etc/default/grub
+++ /etc/default/grub
@@ -4,8 +4,8 @@
${GRUB_TOP}-GRUB_CMDLINE_LINUX_DEFAULT="quiet"
-GRUB_CMDLINE_LINUX="intel_iommu=off"
+GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"
+GRUB_CMDLINE_LINUX=""
 
 # Uncomment to disable graphical terminal
 #GRUB_TERMINAL=console
`,
      MODULES_DIFF,
    ]);
    expect(r.json.edits[0]?.why).toEqual([
      'GRUB_CMDLINE_LINUX: remove intel_iommu=off: intel_iommu=off turns the Intel IOMMU off',
      'GRUB_CMDLINE_LINUX_DEFAULT: add intel_iommu=on: this kernel does not enable the Intel IOMMU by default (no CONFIG_INTEL_IOMMU_DEFAULT_ON=y in /boot/config-6.1.0-28-amd64)',
    ]);
    expect(r.json.commands.map((c) => c.argv.join(' '))).toEqual(['update-grub']);
    expect(read(h, 'etc/default/grub.pcie-passthroughd.bak')).toBe(DEBIAN_GRUB('quiet', 'intel_iommu=off'));
    expect(r.json.reboot[0]).toBe('kernel command line (-intel_iommu=off +intel_iommu=on)');
  });

  it('removes the invalid amd_iommu=on and keeps every other argument', async () => {
    const h = await host(amdWithAmdIommuOn);
    const r = await setup(h, '--dry-run');
    expect(r.json.edits.map((e) => e.diff)).toEqual([
      `--- /etc/default/grub
+++ /etc/default/grub
@@ -4,7 +4,7 @@
${GRUB_TOP}-GRUB_CMDLINE_LINUX_DEFAULT="quiet amd_iommu=on iommu=pt"
+GRUB_CMDLINE_LINUX_DEFAULT="quiet iommu=pt"
 GRUB_CMDLINE_LINUX=""
 
 # Uncomment to disable graphical terminal
`,
    ]);
    expect(r.json.edits[0]?.why).toEqual(['GRUB_CMDLINE_LINUX_DEFAULT: remove amd_iommu=on: amd_iommu=on is not a valid value (AMD-Vi is on by default)']);
    expect(r.json.commands.map((c) => c.argv.join(' '))).toEqual(['update-grub']);
  });

  it('refuses a GRUB_CMDLINE_LINUX_DEFAULT that spans lines, says what to do by hand, and still makes the other changes', async () => {
    const h = await host(unparseableGrub);
    const grub = read(h, 'etc/default/grub');
    const r = await setup(h, '--yes');
    expect(r.code).toBe(EXIT.failure);
    expect(r.json.status).toBe('incomplete');
    expect(r.json.refused).toEqual([
      {
        path: '/etc/default/grub',
        line: 7,
        problem: '/etc/default/grub line 7: the value of GRUB_CMDLINE_LINUX_DEFAULT spans several lines (the quote is not closed on this line), so pcie-passthroughctl will not rewrite it',
        byHand: 'edit GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub by hand: add `intel_iommu=on`, then run `update-grub`',
      },
    ]);
    expect(r.json.edits.map((e) => e.diff)).toEqual([MODULES_DIFF]);
    expect(r.json.commands).toEqual([]);
    expect(read(h, 'etc/default/grub')).toBe(grub);
    expect(existsSync(join(h.root, 'etc/default/grub.pcie-passthroughd.bak'))).toBe(false);
  });
});

describe('pcie-passthroughctl setup: modules and the initramfs', () => {
  it("drops the seed how-to's vfio_virqfd from /etc/modules and the initramfs list on a 6.8 kernel, then rebuilds the initramfs", async () => {
    const h = await host(virqfdHost);
    const r = await setup(h, '--yes');
    expect(r.code).toBe(EXIT.ok);
    expect(r.json.edits.map((e) => e.diff)).toEqual([
      `--- /etc/modules
+++ /etc/modules
@@ -1,4 +1,3 @@
 vfio
 vfio_iommu_type1
 vfio_pci
-vfio_virqfd
`,
      `--- /etc/initramfs-tools/modules
+++ /etc/initramfs-tools/modules
@@ -2,4 +2,3 @@
 vfio
 vfio_iommu_type1
 vfio_pci
-vfio_virqfd
`,
    ]);
    expect(r.json.commands.map((c) => [c.argv.join(' '), c.why])).toEqual([['update-initramfs -u -k all', 'rebuild the initramfs: /etc/initramfs-tools/modules changed']]);
    expect(read(h, 'etc/modules')).toBe('vfio\nvfio_iommu_type1\nvfio_pci\n');
    expect(read(h, 'etc/modules.pcie-passthroughd.bak')).toBe('vfio\nvfio_iommu_type1\nvfio_pci\nvfio_virqfd\n');
    expect((await setup(h, '--yes')).json.status).toBe('nothing-to-do');
  });

  it('leaves vfio_virqfd alone on a kernel older than 6.2, which still has it', async () => {
    const { spec, overrides } = virqfdHost();
    const h = await buildSetupHost({ ...spec, kernelRelease: '5.15.158-2-pve' }, overrides);
    hosts.push(h);
    const r = await setup(h, '--dry-run');
    expect(r.json.status).toBe('nothing-to-do');
    expect(r.code).toBe(EXIT.ok);
  });
});

describe('pcie-passthroughctl setup on a prepared host and with firmware problems', () => {
  it('an already-correct host: nothing to change, exit 0, no file touched', async () => {
    const h = await host(preparedHost);
    const before = etcSnapshot(h);
    const r = await runCtl(['--root', h.root, 'setup', '--yes'], h.env);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toBe('Nothing to change: the boot configuration is already prepared.\n');
    expect(etcSnapshot(h)).toEqual(before);
  });

  it('VT-d off in the firmware is reported with the setting to change, never "fixed"', async () => {
    const { spec, overrides } = preparedHost();
    const h = await buildSetupHost({ ...spec, iommu: false, interruptRemapping: false }, overrides);
    hosts.push(h);
    const r = await setup(h, '--yes');
    expect(r.code).toBe(EXIT.failure);
    expect(r.json.edits).toEqual([]);
    expect(r.json.firmware).toEqual([
      { name: 'iommu-firmware', problem: 'The firmware announces no IOMMU (no ACPI DMAR/IVRS/IORT table in /sys/firmware/acpi/tables)', setting: 'enable "VT-d" (Intel Virtualization Technology for Directed I/O) in the firmware (BIOS/UEFI) setup, then reboot' },
    ]);
  });

  it('a host that is itself a VM without a virtual IOMMU or nested virtualization: the outer hypervisor settings', async () => {
    const { spec, overrides } = preparedHost();
    const h = await buildSetupHost({ ...spec, iommu: false, interruptRemapping: false }, { ...overrides, cpuFlags: ['hypervisor'], dropCpuFlags: ['vmx'] });
    hosts.push(h);
    const r = await runCtl(['--root', h.root, 'setup', '--dry-run'], h.env);
    expect(r.code).toBe(EXIT.failure);
    expect(r.stdout).toBe(`Firmware settings (pcie-passthroughctl cannot change these):
  This host is itself a virtual machine (CPU flag "hypervisor") and its hypervisor gives it no IOMMU (no DMAR/IVRS table). Fix: on the outer host, give this VM a virtual IOMMU with interrupt remapping: Proxmox VE \`qm set VMID --machine q35,viommu=intel\`; libvirt \`<iommu model="intel"><driver intremap="on" caching_mode="on"/></iommu>\` with \`<ioapic driver="qemu"/>\`; QEMU \`-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on,caching-mode=on\`; then power this VM off and on
  This virtual machine's CPU has no vmx flag, so KVM cannot run guests here. Fix: on the outer host, enable nested virtualization (\`options kvm_intel nested=1\`) and give this VM the host CPU type (Proxmox VE \`cpu: host\`, QEMU \`-cpu host\`)
Nothing that setup can change.
`);
  });
});

describe('pcie-passthroughctl setup: the human output', () => {
  it('prints each diff with its reasons and the commands, and ends with what a reboot applies', async () => {
    const h = await host(amdWithAmdIommuOn);
    const r = await runCtl(['--root', h.root, 'setup', '--yes'], h.env);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout.split('\n').slice(0, 3)).toEqual(['/etc/default/grub:', '  GRUB_CMDLINE_LINUX_DEFAULT: remove amd_iommu=on: amd_iommu=on is not a valid value (AMD-Vi is on by default)', '--- /etc/default/grub']);
    expect(r.stdout).toContain('Then run:\n  update-grub    # write the new kernel command line (-amd_iommu=on) into the boot loader\'s entries\n');
    expect(r.stdout).toContain('Wrote /etc/default/grub (backup: /etc/default/grub.pcie-passthroughd.bak)\n');
    expect(r.stdout).toMatch(/update-grub: not run under --root \S+ \(no update-grub in a root filesystem there\); run it inside that system\n/);
    expect(r.stdout.endsWith('reboot to apply: kernel command line (-amd_iommu=on)\n')).toBe(true);
  });

  it('without --yes and without a terminal it applies nothing and says how to', async () => {
    const h = await host(amdWithAmdIommuOn);
    const before = etcSnapshot(h);
    const r = await runCtl(['--root', h.root, 'setup'], h.env);
    expect(r.code).toBe(EXIT.warning);
    expect(r.stdout).toContain('\nNot applied: no terminal to confirm on, pass --yes.\n');
    expect(etcSnapshot(h)).toEqual(before);
  });
});

describe('pcie-passthroughctl setup and the early claims', () => {
  it('an initramfs built before the early-claim hook is rebuilt, after the claims file is made current', async () => {
    const h = await host(preparedHost);
    mkdirSync(join(h.root, 'etc/pcie-passthroughd'), { recursive: true });
    writeFileSync(join(h.root, 'etc/pcie-passthroughd/config.toml'), '[[device]]\naddress = "01:00.0"\nfunctions = "all"\n');
    writeFileSync(join(h.root, 'boot/initrd.img-6.1.0-28-amd64'), '');
    const dry = await setup(h, '--dry-run');
    expect(dry.code).toBe(EXIT.warning);
    expect(dry.json.edits).toEqual([]);
    expect(dry.json.commands.map((c) => [c.argv.join(' '), c.why])).toEqual([
      ['update-initramfs -u -k all', "rebuild the initramfs: early claims: The initramfs of 6.1.0-28-amd64 was built before pcie-passthroughd's initramfs-tools hook, so it carries no early claims: a host driver it loads (early KMS GPU driver, storage) binds a configured device before the daemon runs."],
    ]);
    expect(existsSync(join(h.root, 'etc/pcie-passthroughd/early/claims'))).toBe(false);

    const applied = await setup(h, '--yes');
    expect(applied.json.commands.map((c) => c.outcome)).toEqual(['not-run']);
    expect(read(h, 'etc/pcie-passthroughd/early/claims')).toMatch(/^claim .*0000:01:00\.0/m);
  });
});
