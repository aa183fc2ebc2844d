import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseLibvirtDomain } from '../../src/guests/libvirt.js';
import { nodeNameFrom, parsePciMappings } from '../../src/guests/pve-mapping.js';
import { parsePveVmConfig } from '../../src/guests/pve-vm.js';
import { resolvePveGuests } from '../../src/guests/resolve.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const VM = '/etc/pve/qemu-server/100.conf';
const MAP = '/etc/pve/mapping/pci.cfg';

describe('Proxmox VE guest config', () => {
  const vm = parsePveVmConfig(fixture('100.conf'), VM, '100');

  it('reads name and onboot from the current config, not from a snapshot section', () => {
    expect(vm).toMatchObject({ vmid: '100', name: 'win11', onboot: true, template: false, problems: [] });
  });

  it('reads every hostpci form: whole slot, bus:slot.fn, host= with ";", mapping=, with their options', () => {
    expect(vm.hostpci).toEqual([
      { key: 'hostpci0', line: 10, hosts: ['0000:01:00'], mapping: null, options: { pcie: '1', 'x-vga': '1' } },
      { key: 'hostpci1', line: 11, hosts: ['02:00.0'], mapping: null, options: { rombar: '0' } },
      { key: 'hostpci2', line: 12, hosts: ['0000:05:10.0', '0000:05:10.2'], mapping: null, options: { pcie: '1' } },
      { key: 'hostpci3', line: 13, hosts: [], mapping: 'gpu2', options: { pcie: '1' } },
    ]);
  });

  it('ignores the snapshot and [PENDING] sections (09:00 and 0a:00.0 are not the current config)', () => {
    const hosts = vm.hostpci.flatMap((h) => h.hosts);
    expect(hosts).not.toContain('0000:09:00');
    expect(hosts).not.toContain('0000:0a:00.0');
  });

  it('reports a hostpci line that names nothing, with its line', () => {
    const bad = parsePveVmConfig('name: x\nhostpci0: pcie=1\nthis is not a key value line\n', VM, '7');
    expect(bad.problems).toEqual([
      { file: VM, line: 2, message: 'hostpci0 names no host device (neither an address nor mapping=)' },
      { file: VM, line: 3, message: 'not a "key: value" line: "this is not a key value line"' },
    ]);
  });
});

describe('Proxmox VE resource mappings (pci.cfg)', () => {
  const parsed = parsePciMappings(fixture('pci.cfg'), MAP);

  it('reads each mapping with one map per node', () => {
    expect(parsed.problems).toEqual([]);
    expect([...parsed.mappings.keys()]).toEqual(['gpu2', 'nic-vf']);
    expect(parsed.mappings.get('gpu2')?.entries).toEqual([
      { line: 3, node: 'pve1', paths: ['0000:06:00'], id: '10de:1b80', subsystemId: '1458:3702', iommuGroup: 14 },
      { line: 4, node: 'pve2', paths: ['0000:41:00.0'], id: '1002:73bf', subsystemId: '1002:0e3a', iommuGroup: 22 },
    ]);
    expect(parsed.mappings.get('nic-vf')?.entries[0]?.paths).toEqual(['0000:07:10.0', '0000:07:10.2']);
  });

  it('takes the node name from /etc/hostname up to the first dot', () => {
    expect(nodeNameFrom('pve1.example.lan\n')).toBe('pve1');
    expect(nodeNameFrom('\n')).toBeNull();
    expect(nodeNameFrom(null)).toBeNull();
  });

  it('resolves mapping= through this node\'s entry only, keeping its id=/subsystem-id=/iommugroup=', () => {
    const vm = parsePveVmConfig(fixture('100.conf'), VM, '100');
    const on = (node: string) => resolvePveGuests([{ file: VM, config: vm }], parsed, MAP, node);
    const pve1 = on('pve1');
    expect(pve1.problems).toEqual([]);
    const devices = pve1.guests[0]?.devices ?? [];
    expect(devices.map((d) => [d.candidates, d.allFunctions, d.origin.via, d.origin.line])).toEqual([
      [['0000:01:00.0'], true, 'hostpci0', 10],
      [['0000:02:00.0'], false, 'hostpci1', 11],
      [['0000:05:10.0'], false, 'hostpci2', 12],
      [['0000:05:10.2'], false, 'hostpci2', 12],
      [['0000:06:00.0'], true, 'hostpci3 (mapping gpu2)', 13],
    ]);
    expect(devices[4]?.expected).toEqual({
      mapping: 'gpu2', vendorId: 0x10de, deviceId: 0x1b80, subsystemVendorId: 0x1458, subsystemDeviceId: 0x3702, iommuGroup: 14,
    });
    expect(on('pve2').guests[0]?.devices[4]?.candidates).toEqual(['0000:41:00.0']);
    expect(on('pve3').problems).toEqual([
      { file: VM, line: 13, message: 'hostpci3 uses mapping "gpu2", which has no entry for this node (pve3) in /etc/pve/mapping/pci.cfg' },
    ]);
  });
});

describe('libvirt domain XML', () => {
  const FILE = '/etc/libvirt/qemu/win10.xml';
  const domain = parseLibvirtDomain(fixture('win10.xml'), FILE);

  it('reads the host addresses of PCI hostdevs and hostdev interfaces with managed=, not the guest-side address', () => {
    expect(domain.problems).toEqual([]);
    expect(domain).toMatchObject({ name: 'win10', uuid: '4dea22b3-1d52-d8f3-2516-782e98ab3fa0' });
    expect(domain.hostdevs).toEqual([
      { address: '0000:01:00.0', managed: true, line: 24, via: 'hostdev' },
      { address: '0000:01:00.1', managed: false, line: 31, via: 'hostdev' },
      { address: '0000:07:10.2', managed: true, line: 44, via: "interface type='hostdev'" },
    ]);
  });

  it('defaults managed to no, as libvirt does', () => {
    const d = parseLibvirtDomain("<domain><name>x</name><devices><hostdev mode='subsystem' type='pci'><source><address domain='0' bus='3' slot='0' function='0'/></source></hostdev></devices></domain>", FILE);
    expect(d.hostdevs).toEqual([{ address: '0000:03:00.0', managed: false, line: 1, via: 'hostdev' }]);
  });

  it('reports broken XML with file and line instead of throwing', () => {
    const d = parseLibvirtDomain("<domain>\n  <name>x</name>\n  <devices>\n  </device>\n</domain>\n", FILE);
    expect(d.hostdevs).toEqual([]);
    expect(d.problems).toHaveLength(1);
    expect(d.problems[0]).toMatchObject({ file: FILE, line: 4 });
    expect(d.problems[0]?.message).toMatch(/^not well-formed XML: /);
  });

  it('reports a host address it cannot read', () => {
    const d = parseLibvirtDomain("<domain><name>x</name><devices><hostdev mode='subsystem' type='pci'><source><address bus='zz' slot='0'/></source></hostdev></devices></domain>", FILE);
    expect(d.problems[0]?.message).toMatch(/domain, bus, slot and function/);
  });
});
