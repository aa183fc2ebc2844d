/**
 * The shell helper the udev rule, the boot unit and the initramfs run (data/claim/pcie-passthroughd-claim),
 * run for real by /bin/sh (and busybox sh when present, as in an initramfs) over a plain sysfs-shaped tree.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderClaims, type Claim } from '../../src/claim/generate.js';

const HELPER = fileURLToPath(new URL('../../data/claim/pcie-passthroughd-claim', import.meta.url));

const shells = ['/bin/sh', ...['/bin/busybox', '/usr/bin/busybox'].filter(existsSync).slice(0, 1).map((b) => `${b} sh`)];

interface Tree { dir: string; sys: string; claims: string; records: string; kmsg: string; modprobeLog: string; env: NodeJS.ProcessEnv }

function makeTree(): Tree {
  const dir = mkdtempSync(join(tmpdir(), 'claim-helper-'));
  const sys = join(dir, 'sys');
  mkdirSync(join(sys, 'bus/pci/devices'), { recursive: true });
  mkdirSync(join(sys, 'bus/pci/drivers'), { recursive: true });
  writeFileSync(join(sys, 'bus/pci/drivers_probe'), '');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const modprobeLog = join(dir, 'modprobe.log');
  // Loading a driver registers it (its directory appears); the kernel would then bind overridden devices.
  writeFileSync(join(bin, 'modprobe'), `#!/bin/sh\nfor a; do last=$a; done\necho "$*" >>"${modprobeLog}"\nmkdir -p "${sys}/bus/pci/drivers/$last"\n`);
  chmodSync(join(bin, 'modprobe'), 0o755);
  const claims = join(dir, 'etc/early/claims');
  mkdirSync(join(dir, 'etc/early'), { recursive: true });
  const records = join(dir, 'run/claimed');
  const kmsg = join(dir, 'kmsg');
  return {
    dir, sys, claims, records, kmsg, modprobeLog,
    env: { PATH: `${bin}:/usr/bin:/bin`, PCIE_PASSTHROUGHD_CLAIMS: claims, PCIE_PASSTHROUGHD_SYSFS: sys, PCIE_PASSTHROUGHD_RECORDS: records, PCIE_PASSTHROUGHD_KMSG: kmsg, PCIE_PASSTHROUGHD_MODPROBE: join(bin, 'modprobe') },
  };
}

function addDevice(t: Tree, address: string, ids: { vendor: string; device: string; sv?: string; sd?: string; cls?: string }, driver?: string): void {
  const d = join(t.sys, 'bus/pci/devices', address);
  mkdirSync(d);
  writeFileSync(join(d, 'vendor'), `${ids.vendor}\n`);
  writeFileSync(join(d, 'device'), `${ids.device}\n`);
  writeFileSync(join(d, 'subsystem_vendor'), `${ids.sv ?? '0x1af4'}\n`);
  writeFileSync(join(d, 'subsystem_device'), `${ids.sd ?? '0x1100'}\n`);
  writeFileSync(join(d, 'class'), `${ids.cls ?? '0x030000'}\n`);
  writeFileSync(join(d, 'driver_override'), '(null)\n');
  if (driver) {
    mkdirSync(join(t.sys, 'bus/pci/drivers', driver), { recursive: true });
    symlinkSync(`../../drivers/${driver}`, join(d, 'driver'));
  }
}

const claim = (over: Partial<Claim>): Claim => ({
  kind: 'claim', address: null, vendor: null, device: null, subsystemVendor: null, subsystemDevice: null, classMatch: null,
  driver: 'vfio-pci', origin: 'config.toml:3', ...over,
});

const override = (t: Tree, a: string): string => readFileSync(join(t.sys, 'bus/pci/devices', a, 'driver_override'), 'utf8');

describe.each(shells)('pcie-passthroughd-claim under %s', (shell) => {
  let t: Tree;
  beforeEach(() => { t = makeTree(); });
  afterEach(() => rmSync(t.dir, { recursive: true, force: true }));

  const run = (...args: string[]): void => {
    const [cmd = '/bin/sh', ...pre] = shell.split(' ');
    execFileSync(cmd, [...pre, HELPER, ...args], { env: t.env });
  };

  it('--all writes driver_override for what the claims name, loads the driver once, and leaves the rest alone', () => {
    addDevice(t, '0000:01:00.0', { vendor: '0x1234', device: '0x1111' });
    addDevice(t, '0000:01:00.1', { vendor: '0x8086', device: '0x293e', cls: '0x040300' });
    addDevice(t, '0000:00:01.0', { vendor: '0x1234', device: '0x1111' }); // the console VGA: same model, other address
    addDevice(t, '0000:02:00.0', { vendor: '0x8086', device: '0x10d3', cls: '0x020000' });
    writeFileSync(t.claims, renderClaims([
      claim({ address: '0000:01:00.0', vendor: 0x1234, device: 0x1111 }),
      claim({ address: '0000:01:00.*' }),
    ]));
    run('--all', 'boot');
    expect(override(t, '0000:01:00.0')).toBe('vfio-pci\n');
    expect(override(t, '0000:01:00.1')).toBe('vfio-pci\n');
    expect(override(t, '0000:00:01.0')).toBe('(null)\n');
    expect(override(t, '0000:02:00.0')).toBe('(null)\n');
    expect(readFileSync(t.modprobeLog, 'utf8').trim().split('\n')).toEqual(['-q vfio-pci']);
    // Once vfio-pci is registered the next device is probed instead (registration only binds what was there).
    expect(readFileSync(join(t.sys, 'bus/pci/drivers_probe'), 'utf8')).toContain('0000:01:00.1');
    expect(readFileSync(join(t.records, '0000:01:00.0'), 'utf8')).toMatch(/^stage=boot\nhost_driver=-\ndriver=vfio-pci\nuptime=.*\norigin=config\.toml:3\n$/);
    expect(readFileSync(t.kmsg, 'utf8')).toContain('pcie-passthroughd-claim: 0000:01:00.0: claimed for vfio-pci at boot (config.toml:3)');
  });

  it('never claims another card at a pinned address, nor a skipped device that an id claim matches', () => {
    addDevice(t, '0000:01:00.0', { vendor: '0x1002', device: '0x67df' });
    addDevice(t, '0000:03:00.0', { vendor: '0x8086', device: '0x1533', cls: '0x020000' });
    addDevice(t, '0000:04:00.0', { vendor: '0x8086', device: '0x1533', cls: '0x020000' });
    writeFileSync(t.claims, renderClaims([
      { ...claim({ address: '0000:03:00.0', kind: 'skip', driver: '-' }), origin: 'blocked: in use by the host (eno1 is up)' },
      claim({ address: '0000:01:00.0', vendor: 0x10de, device: 0x1b80 }),
      claim({ vendor: 0x8086, device: 0x1533 }),
    ]));
    run('0000:01:00.0', 'udev');
    run('0000:03:00.0', 'udev');
    run('0000:04:00.0', 'udev');
    expect(override(t, '0000:01:00.0')).toBe('(null)\n');
    expect(override(t, '0000:03:00.0')).toBe('(null)\n');
    expect(override(t, '0000:04:00.0')).toBe('vfio-pci\n');
    expect(existsSync(join(t.records, '0000:03:00.0'))).toBe(false);
  });

  it('matches class with its mask, and subsystem ids', () => {
    addDevice(t, '0000:05:00.0', { vendor: '0x10de', device: '0x1b80', cls: '0x030000', sv: '0x1043' });
    addDevice(t, '0000:06:00.0', { vendor: '0x10de', device: '0x1b80', cls: '0x030200', sv: '0x1043' });
    addDevice(t, '0000:07:00.0', { vendor: '0x10de', device: '0x1b80', cls: '0x030000', sv: '0x1458' });
    writeFileSync(t.claims, renderClaims([claim({ vendor: 0x10de, device: 0x1b80, subsystemVendor: 0x1043, classMatch: { classCode: 0x030000, mask: 0xffff00 } })]));
    run('--all', 'boot');
    expect([override(t, '0000:05:00.0'), override(t, '0000:06:00.0'), override(t, '0000:07:00.0')]).toEqual(['vfio-pci\n', '(null)\n', '(null)\n']);
  });

  it('a device a host driver already holds keeps its driver (the daemon takes it over) and is recorded as found there', () => {
    addDevice(t, '0000:03:00.0', { vendor: '0x1b36', device: '0x000d', cls: '0x0c0330' }, 'xhci_hcd');
    writeFileSync(t.claims, renderClaims([claim({ vendor: 0x1b36, device: 0x000d })]));
    run('0000:03:00.0', 'udev');
    expect(override(t, '0000:03:00.0')).toBe('vfio-pci\n');
    expect(readFileSync(join(t.records, '0000:03:00.0'), 'utf8')).toContain('host_driver=xhci_hcd\n');
    expect(existsSync(t.modprobeLog)).toBe(false);
    expect(readFileSync(t.kmsg, 'utf8')).toContain('xhci_hcd already bound it');
  });

  it('needs no tool a klibc-only initramfs lacks (cut, basename, awk): uptime and the bound host driver are still recorded', () => {
    // What Debian's initramfs has without busybox (klibc-utils): cat, mkdir, readlink, ... — and the shell's builtins.
    const klibc = join(t.dir, 'klibc-bin');
    mkdirSync(klibc);
    for (const tool of ['cat', 'mkdir', 'readlink']) symlinkSync(execFileSync('/bin/sh', ['-c', `command -v ${tool}`]).toString().trim(), join(klibc, tool));
    addDevice(t, '0000:01:00.0', { vendor: '0x1234', device: '0x1111' });
    addDevice(t, '0000:03:00.0', { vendor: '0x1b36', device: '0x000d', cls: '0x0c0330' }, 'xhci_hcd');
    writeFileSync(t.claims, renderClaims([claim({ address: '0000:01:00.0' }), claim({ vendor: 0x1b36, device: 0x000d })]));
    const [cmd = '/bin/sh', ...pre] = shell.split(' ');
    execFileSync(cmd, [...pre, HELPER, '--all', 'boot'], { env: { ...t.env, PATH: klibc } });
    expect(override(t, '0000:01:00.0')).toBe('vfio-pci\n');
    expect(readFileSync(join(t.records, '0000:01:00.0'), 'utf8')).toMatch(/\nuptime=[0-9]+\.[0-9]+\n/);
    expect(readFileSync(join(t.records, '0000:03:00.0'), 'utf8')).toContain('host_driver=xhci_hcd\n');
  });

  it('does nothing without a claims file, and says where it ran inside an initramfs', () => {
    addDevice(t, '0000:01:00.0', { vendor: '0x1234', device: '0x1111' });
    run('--all', 'boot');
    expect(override(t, '0000:01:00.0')).toBe('(null)\n');
    writeFileSync(t.claims, renderClaims([claim({ address: '0000:01:00.0' })]));
    writeFileSync(join(t.dir, 'etc/early/in-initramfs'), '');
    run('--all', 'boot');
    expect(readFileSync(join(t.records, '0000:01:00.0'), 'utf8')).toContain('stage=initramfs-boot\n');
  });
});
