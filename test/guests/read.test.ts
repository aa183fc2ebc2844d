import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readGuests } from '../../src/guests/read.js';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function root(): string {
  const r = mkdtempSync(join(tmpdir(), 'guests-read-'));
  roots.push(r);
  return r;
}

function put(r: string, path: string, text: string): void {
  mkdirSync(join(r, path, '..'), { recursive: true });
  writeFileSync(join(r, path), text);
}

describe('reading the guests under a root', () => {
  it('reads a mounted /etc/pve: VM configs, the mapping of this node, templates left out', async () => {
    const r = root();
    mkdirSync(join(r, 'etc/pve/qemu-server'), { recursive: true });
    mkdirSync(join(r, 'etc/pve/mapping'), { recursive: true });
    for (const f of ['100.conf', '101.conf', '9000.conf']) copyFileSync(join(FIXTURES, f), join(r, 'etc/pve/qemu-server', f));
    copyFileSync(join(FIXTURES, 'pci.cfg'), join(r, 'etc/pve/mapping/pci.cfg'));
    put(r, '/etc/pve/.version', '42\n');
    put(r, '/etc/hostname', 'pve2\n');
    const inv = await readGuests(r);
    expect(inv.sources.pve.state).toBe('ok');
    expect(inv.sources.libvirt.state).toBe('absent');
    expect(inv.problems).toEqual([]);
    expect(inv.guests.map((g) => [g.id, g.name, g.onboot, g.devices.length])).toEqual([['100', 'win11', true, 5], ['101', 'nas', true, 1]]);
    expect(inv.guests[0]?.devices[4]?.candidates).toEqual(['0000:41:00.0']);
  });

  it('an empty /etc/pve (pmxcfs not mounted yet) is unavailable, not "no guests"', async () => {
    const r = root();
    mkdirSync(join(r, 'etc/pve'), { recursive: true });
    const inv = await readGuests(r);
    expect(inv.sources.pve).toEqual({ state: 'unavailable', detail: '/etc/pve is empty: pmxcfs is not mounted (yet)' });
  });

  it('reads libvirt domains and marks those linked in autostart/', async () => {
    const r = root();
    mkdirSync(join(r, 'etc/libvirt/qemu/autostart'), { recursive: true });
    mkdirSync(join(r, 'etc/libvirt/qemu/networks'), { recursive: true });
    copyFileSync(join(FIXTURES, 'win10.xml'), join(r, 'etc/libvirt/qemu/win10.xml'));
    put(r, '/etc/libvirt/qemu/router.xml', "<domain type='kvm'><name>router</name><devices>\n<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/></source></hostdev></devices></domain>\n");
    put(r, '/etc/libvirt/qemu/broken.xml', '<domain><name>broken</name>\n');
    symlinkSync('/etc/libvirt/qemu/router.xml', join(r, 'etc/libvirt/qemu/autostart/router.xml'));
    const inv = await readGuests(r);
    expect(inv.sources.libvirt.state).toBe('ok');
    expect(inv.guests.map((g) => [g.source, g.id, g.name, g.onboot, g.devices.map((d) => d.candidates[0])])).toEqual([
      ['libvirt', 'router', 'router', true, ['0000:03:00.0']],
      ['libvirt', '4dea22b3-1d52-d8f3-2516-782e98ab3fa0', 'win10', false, ['0000:01:00.0', '0000:01:00.1', '0000:07:10.2']],
    ]);
    expect(inv.problems).toHaveLength(1);
    expect(inv.problems[0]).toMatchObject({ file: '/etc/libvirt/qemu/broken.xml' });
  });
});
