import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const UNIT_NAME = 'pcie-passthroughd.service';
const UNIT_TEXT = readFileSync(new URL(`../../systemd/${UNIT_NAME}`, import.meta.url), 'utf8');
/** Highest acceptable `systemd-analyze security` exposure (0 = locked down, 10 = exposed); measured 2.2. */
const MAX_EXPOSURE = 2.5;

/** section → key → every value assigned (systemd keys may repeat). Comments and blanks dropped. */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {};
  let current: Record<string, string[]> | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = sections[header[1]!] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`unparseable unit line: ${line}`);
    (current[line.slice(0, eq)] ??= []).push(line.slice(eq + 1));
  }
  return sections;
}

const unit = parseUnit(UNIT_TEXT);
const value = (section: string, key: string): string | undefined => unit[section]?.[key]?.join(' ');
const words = (section: string, key: string): string[] => (value(section, key) ?? '').split(/\s+/).filter(Boolean);

describe('the unit promises what the daemon relies on', () => {
  it('is Type=notify, accepts READY= from the systemd-notify child, and names its bus name', () => {
    expect(value('Service', 'Type')).toBe('notify');
    expect(value('Service', 'NotifyAccess')).toBe('all');
    expect(value('Service', 'BusName')).toBe('org.pciepassthroughd');
    expect(value('Service', 'ExecStart')).toBe('/usr/sbin/pcie-passthroughd');
    expect(value('Service', 'ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(value('Service', 'Restart')).toBe('on-failure');
    expect(value('Service', 'RuntimeDirectory')).toBe('pcie-passthroughd');
    expect(value('Install', 'WantedBy')).toBe('multi-user.target');
  });

  it('starts after coldplug and module loading, and before every VM starter and the display manager', () => {
    expect(words('Unit', 'After')).toEqual(expect.arrayContaining(['systemd-udev-trigger.service', 'systemd-modules-load.service']));
    expect(words('Unit', 'Before')).toEqual(
      expect.arrayContaining([
        'libvirtd.service',
        'virtqemud.service',
        'libvirt-guests.service',
        'pve-guests.service',
        'pve-ha-lrm.service',
        'display-manager.service',
      ]),
    );
  });

  it('loads vfio-pci outside the sandbox, tolerating failure, while the daemon cannot load modules', () => {
    expect(unit.Service?.ExecStartPre).toEqual(['-+/sbin/modprobe -q vfio-pci']);
    expect(value('Service', 'ProtectKernelModules')).toBe('yes');
  });

  it('keeps sysfs read-only except the trees the binding sequence writes, /etc except the early claims', () => {
    expect(value('Service', 'ProtectSystem')).toBe('strict');
    expect(value('Service', 'ProtectKernelTunables')).toBe('yes');
    expect(words('Service', 'ReadWritePaths').sort()).toEqual(['-/etc/pcie-passthroughd/early', '/sys/bus/pci', '/sys/devices']);
  });

  it('leaves out the settings that would break Node or the in-use guard', () => {
    // V8's JIT needs W+X pages; the NIC guard needs the host network namespace.
    expect(unit.Service?.MemoryDenyWriteExecute ?? ['no']).toEqual(['no']);
    expect(unit.Service?.PrivateNetwork ?? ['no']).toEqual(['no']);
    expect(words('Service', 'RestrictAddressFamilies')).toEqual(expect.arrayContaining(['AF_UNIX', 'AF_NETLINK']));
    expect(value('Service', 'ProcSubset') ?? 'all').toBe('all');
  });
});

describe('systemd-analyze (no systemd as PID 1 needed)', () => {
  let dir: string;
  let copy: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ppd-unit-'));
    copy = join(dir, UNIT_NAME);
    // verify insists that ExecStart is executable; the packaged binary is not installed here.
    writeFileSync(copy, UNIT_TEXT.replace(/^ExecStart=\/usr\/sbin\/pcie-passthroughd$/m, `ExecStart=${process.execPath}`));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function verify(path: string): Promise<{ exitCode: number | undefined; output: string }> {
    const result = await execa('systemd-analyze', ['verify', '--man=no', path], { reject: false, all: true, stdin: 'ignore' });
    return { exitCode: result.exitCode, output: result.all.trim() };
  }

  it('verify is clean: no unknown key, bad value or missing dependency', async () => {
    expect(readFileSync(copy, 'utf8')).not.toBe(UNIT_TEXT);
    expect(await verify(copy)).toEqual({ exitCode: 0, output: '' });
  });

  it('verify would catch a mistake (it exits 0 on unknown keys, so its output is the signal)', async () => {
    const broken = join(dir, 'broken', UNIT_NAME);
    mkdirSync(join(dir, 'broken'));
    writeFileSync(broken, readFileSync(copy, 'utf8').replace('ProtectSystem=strict', 'ProtectSystem=strictly\nNotifyAcess=all'));
    const result = await verify(broken);
    expect(result.output).toMatch(/Unknown key 'NotifyAcess'/);
    expect(result.output).toMatch(/protect system value/i);
  });

  it(`security --offline=yes scores the sandbox at most ${MAX_EXPOSURE}`, async () => {
    const result = await execa('systemd-analyze', ['security', '--offline=yes', copy], { reject: false, all: true, stdin: 'ignore' });
    const match = /Overall exposure level for .*: (\d+(?:\.\d+)?) (\S+)/.exec(result.all);
    expect(match, result.all).not.toBeNull();
    const score = Number(match![1]);
    expect(score).toBeLessThanOrEqual(MAX_EXPOSURE);
    expect(['OK', 'SAFE']).toContain(match![2]);
  });
});
