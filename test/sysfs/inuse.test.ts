import { appendFileSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { owningPciAddress, readInUse, unescapeOctal } from '../../src/sysfs/inuse.js';
import { SEED, seedIntel } from '../fake/hosts.js';
import { buildHost, tempTreeDir, type FakeHost } from '../fake/tree.js';

const hosts: FakeHost[] = [];
afterEach(() => {
  for (const host of hosts.splice(0)) host.cleanup();
});

async function seed(): Promise<FakeHost> {
  const host = await buildHost(tempTreeDir(), seedIntel());
  hosts.push(host);
  return host;
}

describe('in-use facts', () => {
  it('names the deepest PCI device on a sysfs path', () => {
    expect(owningPciAddress('/sys/devices/pci0000:00/0000:00:1b.0/0000:02:00.0/nvme/nvme0')).toBe('0000:02:00.0');
    expect(owningPciAddress('/sys/devices/virtual/net/lo')).toBeNull();
    expect(unescapeOctal('/srv/my\\040disk')).toBe('/srv/my disk');
  });

  it('decodes escaped mount points and reports a bind-mounted device once', async () => {
    const host = await seed();
    const mountinfo = join(host.root, 'proc/self/mountinfo');
    appendFileSync(mountinfo, '90 28 259:1 /data /srv/data rw - ext4 /dev/nvme0n1p1 rw\n');
    expect(readInUse(host.root).get(SEED.nvme)).toEqual([{ kind: 'mount', detail: 'nvme0n1p1 mounted on /home' }]);
    writeFileSync(mountinfo, readFileSync(mountinfo, 'utf8').replace(' /home ', ' /srv/my\\040files '));
    expect(readInUse(host.root).get(SEED.nvme)).toEqual([{ kind: 'mount', detail: 'nvme0n1p1 mounted on /srv/my files' }]);
  });

  it('ignores swap files (their filesystem is a mount already) and unreadable /proc files', async () => {
    const host = await seed();
    writeFileSync(join(host.root, 'proc/swaps'), 'Filename\tType\tSize\tUsed\tPriority\n/swapfile                               file\t\t2097148\t\t0\t\t-2\n');
    rmSync(join(host.root, 'proc/self/mountinfo'));
    const facts = readInUse(host.root);
    expect(facts.get(SEED.sata)).toBeUndefined();
    expect(facts.get(SEED.nic)).toEqual([{ kind: 'netdev', detail: 'eno1 is up and carries the default route' }]);
  });

  it('a NIC that is down but carries a route is still the host\'s; a virtual interface is nobody\'s', async () => {
    const host = await seed();
    appendFileSync(join(host.root, 'proc/net/route'), 'enp3s0\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n');
    symlinkSync('../../devices/virtual/net/lo', join(host.root, 'sys/class/net/vmbr9'));
    const facts = readInUse(host.root);
    expect(facts.get(SEED.spareNic)).toEqual([{ kind: 'netdev', detail: 'enp3s0 carries a route' }]);
    expect([...facts.keys()].sort()).toEqual([SEED.sata, SEED.spareNic, SEED.nvme, SEED.nic].sort());
  });
});
