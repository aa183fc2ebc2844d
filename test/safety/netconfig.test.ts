import { describe, expect, it } from 'vitest';
import type { Plan } from '../../src/model.js';
import { parseInterfaces } from '../../src/sysfs/netconfig/ifupdown.js';
import { parseNetworkFile, selectorMatches } from '../../src/sysfs/netconfig/networkd.js';
import { parseNmConnection } from '../../src/sysfs/netconfig/networkmanager.js';
import { PROXMOX_INTERFACES, PROXMOX_VMBR0, TWIN_NICS, twinNicsAtBoot } from '../fake/layouts.js';
import { assessOn, verdict } from '../helpers/assess.js';
import { useFakeHosts } from '../helpers/fake-hosts.js';

const hostOf = useFakeHosts();

/** Both I210s configured by id, as a user who wants "the second Intel NIC" might write it. */
const BY_ID = '[[device]]\nid = "8086:1533"\n';

async function planAtBoot(etcFiles: Record<string, string>, toml = BY_ID): Promise<Plan> {
  return (await assessOn(await hostOf(twinNicsAtBoot(etcFiles)), toml)).plan;
}

const bound = (p: Plan) => p.actions.flatMap((a) => (a.kind === 'bind' ? [a.address] : []));

describe('the network at boot: persistent configuration', () => {
  it('without any network configuration both down twins would be taken (what the live state alone allows)', async () => {
    const p = await planAtBoot({});
    expect(bound(p)).toEqual([TWIN_NICS.spare, TWIN_NICS.mgmt]);
  });

  it('ifupdown2 (Proxmox): eno1, a port of vmbr0 in a sourced file, is blocked with the file:line; its twin is bound', async () => {
    const p = await planAtBoot({ 'network/interfaces': PROXMOX_INTERFACES, 'network/interfaces.d/vmbr0': PROXMOX_VMBR0 });
    const v = verdict(p, TWIN_NICS.mgmt);
    expect(v.state).toBe('blocked');
    expect(v.reason).toBe('in use by the host (eno1 is a port of bridge vmbr0 in /etc/network/interfaces.d/vmbr0:5 (ifupdown)); set allow_in_use = true in its [[device]] entry (/etc/pcie-passthroughd/config.toml:1) only if you mean it');
    expect(bound(p)).toEqual([TWIN_NICS.spare]);
  });

  it('ifupdown: bond slaves, VLAN raw devices and interfaces with an address or auto count; a bare `inet manual` does not', async () => {
    const bond = 'auto bond0\niface bond0 inet manual\n    bond_slaves eno1 enp3s0\n    bond-mode 802.3ad\n';
    expect(bound(await planAtBoot({ 'network/interfaces': bond }))).toEqual([]);
    const vlan = 'iface enp3s0 inet manual\n\nauto vlan20\niface vlan20 inet dhcp\n    vlan-raw-device eno1\n';
    expect(bound(await planAtBoot({ 'network/interfaces': vlan }))).toEqual([TWIN_NICS.spare]);
    const dotted = 'auto eno1.100\niface eno1.100 inet static\n    address 10.0.0.2/24\n';
    expect(verdict(await planAtBoot({ 'network/interfaces': dotted }), TWIN_NICS.mgmt).reason).toContain('eno1 carries VLAN eno1.100 in /etc/network/interfaces:2');
    const dhcp = 'allow-hotplug eno1\niface eno1 inet dhcp\n';
    expect(verdict(await planAtBoot({ 'network/interfaces': dhcp }), TWIN_NICS.mgmt).reason).toContain('eno1 is brought up at boot (allow-hotplug eno1) in /etc/network/interfaces:1');
  });

  it('systemd-networkd: a .network file matching the name a .link file gives the NIC (by MAC) blocks it', async () => {
    const p = await planAtBoot({
      'systemd/network/10-lan0.link': `[Match]\nMACAddress=${TWIN_NICS.mgmtMac.toUpperCase()}\n\n[Link]\nName=lan0\n`,
      'systemd/network/20-lan0.network': '[Match]\nName=lan0\n\n[Network]\nDHCP=yes\n',
    });
    expect(verdict(p, TWIN_NICS.mgmt).reason).toContain('eno1 (named lan0 by /etc/systemd/network/10-lan0.link) is managed by systemd-networkd in /etc/systemd/network/20-lan0.network:2 (systemd-networkd)');
    expect(bound(p)).toEqual([TWIN_NICS.spare]);
  });

  it('systemd-networkd: Path= match, Bridge= ports, and Unmanaged=yes in the first matching file leaves the NIC free', async () => {
    const byPath = await planAtBoot({ 'systemd/network/30-uplink.network': `[Match]\nPath=pci-${TWIN_NICS.mgmt}\n\n[Network]\nBridge=br0\n` });
    expect(verdict(byPath, TWIN_NICS.mgmt).reason).toContain('eno1 is a port of bridge br0 in /etc/systemd/network/30-uplink.network:2');
    const unmanaged = await planAtBoot({
      'systemd/network/10-spare.network': '[Match]\nName=enp3s0\n\n[Link]\nUnmanaged=yes\n',
      'systemd/network/99-all.network': '[Match]\nName=en*\n\n[Network]\nDHCP=yes\n',
    });
    expect(verdict(unmanaged, TWIN_NICS.spare).state).toBe('pending');
    expect(verdict(unmanaged, TWIN_NICS.mgmt).reason).toContain('eno1 is managed by systemd-networkd in /etc/systemd/network/99-all.network:2');
  });

  it('NetworkManager: an autoconnecting profile bound to the MAC blocks the NIC; autoconnect=false does not', async () => {
    const profile = (auto: string) => `[connection]\nid=Uplink\ntype=ethernet\n${auto}\n[ethernet]\nmac-address=${TWIN_NICS.mgmtMac.toUpperCase()}\n\n[ipv4]\nmethod=auto\n`;
    const p = await planAtBoot({ 'NetworkManager/system-connections/uplink.nmconnection': profile('') });
    expect(verdict(p, TWIN_NICS.mgmt).reason).toContain('eno1 is used by the NetworkManager profile "Uplink" in /etc/NetworkManager/system-connections/uplink.nmconnection:6 (NetworkManager)');
    const off = await planAtBoot({ 'NetworkManager/system-connections/uplink.nmconnection': profile('autoconnect=false') });
    expect(verdict(off, TWIN_NICS.mgmt).state).toBe('pending');
  });
});

describe('network configuration parsers', () => {
  it('ifupdown: continuation lines, comments and `source-directory` are understood', () => {
    const parsed = parseInterfaces('# comment\nauto vmbr1\niface vmbr1 inet manual\n    bridge-ports eno2 \\\n        eno3\nsource-directory interfaces.d\n', '/etc/network/interfaces');
    expect(parsed.uses.map((u) => [u.selector.names, u.line, u.why])).toEqual([
      [['vmbr1'], 2, 'is brought up at boot (auto vmbr1)'],
      [['eno2'], 4, 'is a port of bridge vmbr1'],
      [['eno3'], 4, 'is a port of bridge vmbr1'],
    ]);
    expect(parsed.includes).toEqual([{ pattern: 'interfaces.d', directory: true, line: 6 }]);
  });

  it('networkd: negated and globbed [Match] lists, files without a known [Match] key are ignored', () => {
    const dev = { name: 'eno1', address: '0000:04:00.0', mac: '3c:ec:ef:10:20:31', driver: 'igb' };
    const negated = parseNetworkFile('[Match]\nName=!eno1 eno2\n', 'f.network')!;
    expect(selectorMatches(negated.use.selector, dev)).toBe(false);
    expect(selectorMatches(parseNetworkFile('[Match]\nName=en*\nDriver=igb\n', 'f')!.use.selector, dev)).toBe(true);
    expect(selectorMatches(parseNetworkFile('[Match]\nName=en*\nDriver=e1000e\n', 'f')!.use.selector, dev)).toBe(false);
    expect(parseNetworkFile('[Match]\nVirtualization=container\n', 'f')).toBeNull();
    expect(parseNmConnection('[connection]\nid=Wired\ntype=ethernet\n', 'f')).toBeNull();
  });
});
