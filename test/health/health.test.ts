import { describe, expect, it } from 'vitest';
import { observe } from '../../src/engine.js';
import { deviceHealth } from '../../src/health/assess.js';
import { parseIomemFramebuffers } from '../../src/health/iomem.js';
import type { PciDevice, Snapshot } from '../../src/model.js';
import { AMD, SEED, amdHost, bootFramebufferOnGpu, deadGpuHost, navi10Host, seedIntel } from '../fake/hosts.js';
import type { HostSpec } from '../fake/tree.js';
import { useFakeHosts } from '../helpers/fake-hosts.js';

const hostOf = useFakeHosts();

async function snapshotOf(spec: HostSpec): Promise<Snapshot> {
  return observe((await hostOf(spec)).root);
}

function device(s: Snapshot, address: string): PciDevice {
  const d = s.devices.find((x) => x.address === address);
  if (!d) throw new Error(`${address} not in snapshot`);
  return d;
}

describe('reading device health from sysfs', () => {
  it('reads reset_method as the kernel lists it, and a function without reset as not resettable', async () => {
    const spec = seedIntel();
    spec.devices.find((d) => d.address === SEED.gpu)!.resetMethods = ['bus'];
    spec.devices.find((d) => d.address === SEED.usb)!.resetMethods = null;
    const s = await snapshotOf(spec);
    expect(device(s, SEED.gpu).health).toMatchObject({ resettable: true, resetMethods: ['bus'], configAllOnes: false });
    expect(device(s, SEED.spareNic).health.resetMethods).toEqual(['flr', 'bus']);
    expect(device(s, SEED.usb).health).toMatchObject({ resettable: false, resetMethods: null });
  });

  it('sees config space that reads all 0xff, and still reports the ids the kernel cached', async () => {
    const s = await snapshotOf(deadGpuHost());
    const gpu = device(s, AMD.gpu);
    expect(gpu.health.configAllOnes).toBe(true);
    expect(gpu).toMatchObject({ vendorId: 0x1002, deviceId: 0x73bf, headerType: 0 });
    expect(device(s, AMD.gpuAudio).health.configAllOnes).toBe(false);
  });

  it('reads the memory BARs of a GPU from `resource` and the boot framebuffer from /proc/iomem', async () => {
    const s = await snapshotOf(bootFramebufferOnGpu());
    expect(device(s, SEED.gpu).health.memoryBars).toEqual([
      { bar: 0, start: 0xf6000000, end: 0xf6ffffff },
      { bar: 1, start: 0xe0000000, end: 0xefffffff },
      { bar: 3, start: 0xf0000000, end: 0xf1ffffff },
    ]);
    expect(device(s, SEED.nic).health.memoryBars).toEqual([]);
    expect(s.hostHealth.framebuffers).toEqual([{ name: 'BOOTFB', start: 0xe0000000, end: 0xe07e8fff }]);
  });

  it('does not guess "no framebuffer" when /proc/iomem hides addresses (read as non-root)', () => {
    expect(parseIomemFramebuffers('00000000-00000000 : Reserved\n  00000000-00000000 : BOOTFB\n')).toBeNull();
    expect(parseIomemFramebuffers('00001000-0009ffff : System RAM\n')).toEqual([]);
  });
});

describe('health checks of a device to be passed through', () => {
  it('warns that a Navi 10 GPU without vendor-reset has the AMD reset bug, naming the remedy', async () => {
    const s = await snapshotOf(navi10Host(false));
    const reset = deviceHealth(device(s, AMD.gpu), s, true).find((c) => c.name === 'reset')!;
    expect(reset.status).toBe('warn');
    expect(reset.message).toContain('AMD Navi 10');
    expect(reset.message).toContain('install vendor-reset');
    expect(reset.message).toContain('reset_method = "device_specific"');
  });

  it('with vendor-reset loaded but not selected, asks for reset_method = "device_specific"', async () => {
    const s = await snapshotOf(navi10Host(true));
    const reset = deviceHealth(device(s, AMD.gpu), s, true).find((c) => c.name === 'reset')!;
    expect(reset.status).toBe('warn');
    expect(reset.message).toMatch(/vendor-reset is loaded but not used .*set reset_method = "device_specific"/);
  });

  it('passes a GPU outside the reset-bug families and lists its methods', async () => {
    const s = await snapshotOf(amdHost());
    expect(deviceHealth(device(s, AMD.gpu), s, true)).toContainEqual({ name: 'reset', status: 'pass', message: 'reset methods: flr bus' });
  });

  it('warns about a function the kernel cannot reset', async () => {
    const spec = seedIntel();
    spec.devices.find((d) => d.address === SEED.spareNic)!.resetMethods = null;
    const s = await snapshotOf(spec);
    const reset = deviceHealth(device(s, SEED.spareNic), s, true).find((c) => c.name === 'reset')!;
    expect(reset).toMatchObject({ status: 'warn' });
    expect(reset.message).toContain('cannot reset');
  });

  it('reports the boot framebuffer in a BAR with the command-line fix for this GRUB host', async () => {
    const s = await snapshotOf(bootFramebufferOnGpu());
    const fb = deviceHealth(device(s, SEED.gpu), s, true).find((c) => c.name === 'boot-framebuffer')!;
    expect(fb.status).toBe('warn');
    expect(fb.message).toContain('BOOTFB at e0000000-e07e8fff');
    expect(fb.message).toContain('BAR 1');
    expect(fb.message).toContain('add `initcall_blacklist=sysfb_init` to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, run `update-grub`, then reboot');
  });

  it('on a kernel older than 5.15 the fix is video=efifb:off', async () => {
    const spec = bootFramebufferOnGpu('efifb');
    spec.kernelRelease = '5.10.0-30-amd64';
    const s = await snapshotOf(spec);
    const fb = deviceHealth(device(s, SEED.gpu), s, true).find((c) => c.name === 'boot-framebuffer')!;
    expect(fb.message).toContain('add `video=efifb:off`');
  });

  it('on Proxmox with systemd-boot the fix edits /etc/kernel/cmdline and runs proxmox-boot-tool refresh', async () => {
    const spec = bootFramebufferOnGpu();
    spec.bootloader = 'proxmox-boot-tool';
    // What systemd-boot passes (an EFI stub entry): no BOOT_IMAGE=, initrd with backslashes.
    spec.cmdline = `initrd=\\EFI\\proxmox\\${spec.kernelRelease}\\initrd.img-${spec.kernelRelease} root=ZFS=rpool/ROOT/pve-1 boot=zfs`;
    const s = await snapshotOf(spec);
    const fb = deviceHealth(device(s, SEED.gpu), s, true).find((c) => c.name === 'boot-framebuffer')!;
    expect(fb.message).toContain('add `initcall_blacklist=sysfb_init` to /etc/kernel/cmdline (one line), run `proxmox-boot-tool refresh`');
  });

  it('says nothing about the framebuffer of a GPU nobody asked for, but always reports a dead device', async () => {
    const s = await snapshotOf(bootFramebufferOnGpu());
    expect(deviceHealth(device(s, SEED.gpu), s, false)).toEqual([]);
    const dead = await snapshotOf(deadGpuHost());
    const checks = deviceHealth(device(dead, AMD.gpu), dead, false);
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatchObject({ name: 'config-space', status: 'fail' });
    expect(checks[0]!.message).toContain('needs a power cycle or a bus reset');
  });
});
