import { describe, expect, it } from 'vitest';
import type { Plan } from '../../src/model.js';
import { btrfsRaid1Root, lvmThinOnSecondNvme, SECOND_NVME, withSecondNvme } from '../fake/layouts.js';
import type { HostSpec } from '../fake/tree.js';
import { assessOn, verdict } from '../helpers/assess.js';
import { useFakeHosts } from '../helpers/fake-hosts.js';

const hostOf = useFakeHosts();
const planFor = async (spec: HostSpec, toml: string): Promise<Plan> => (await assessOn(await hostOf(spec), toml)).plan;

const secondNvme = `[[device]]\naddress = "${SECOND_NVME.nvme}"\n`;

describe('disks held open without a mount', () => {
  it('an NVMe under an LVM-thin pool (Proxmox local-lvm) is blocked, naming the chain up to the VM disk', async () => {
    const p = await planFor(lvmThinOnSecondNvme(), secondNvme);
    const v = verdict(p, SECOND_NVME.nvme);
    expect(v.state).toBe('blocked');
    expect(v.reason).toContain('in use by the host (nvme1n1p1 is held by dm-0 (pve-data_tmeta), dm-1 (pve-data_tdata), under dm-3 (pve-data), dm-4 (pve-vm--100--disk--0))');
    expect(p.actions.filter((a) => a.kind === 'bind')).toEqual([]);
  });

  it('an md RAID member, a bcache backing disk and a loop over a partition each count as host use', async () => {
    const md = withSecondNvme([{ name: 'md0', kind: 'md', major: 9, minor: 0, slaves: ['nvme1n1p1'] }]);
    expect(verdict(await planFor(md, secondNvme), SECOND_NVME.nvme).reason).toContain('nvme1n1p1 is held by md0');
    const bcache = withSecondNvme([{ name: 'bcache0', kind: 'bcache', major: 252, minor: 0, slaves: ['nvme1n1'] }]);
    expect(verdict(await planFor(bcache, secondNvme), SECOND_NVME.nvme).reason).toContain('nvme1n1 is held by bcache0');
    const loop = withSecondNvme([{ name: 'loop0', kind: 'loop', major: 7, minor: 0, backingFile: '/dev/nvme1n1p1' }]);
    const v = verdict(await planFor(loop, secondNvme), SECOND_NVME.nvme);
    expect(v.state).toBe('blocked');
    expect(v.reason).toContain('nvme1n1p1 is the backing device of loop0');
  });

  it('a disk of an imported ZFS pool of zvols only (nothing mounted) is blocked; a pool not imported is not use', async () => {
    const spec = withSecondNvme();
    spec.zfsMembers = { nvme1n1p1: 'tank' };
    spec.zfsImported = ['tank'];
    const v = verdict(await planFor(spec, secondNvme), SECOND_NVME.nvme);
    expect(v.state).toBe('blocked');
    expect(v.reason).toContain('nvme1n1p1 is a device of the imported ZFS pool tank');
    spec.zfsImported = [];
    expect(verdict(await planFor(spec, secondNvme), SECOND_NVME.nvme).state).toBe('pending');
  });

  it('a stacked device whose top is mounted is said once, as the mount', async () => {
    const spec = withSecondNvme([{ name: 'dm-0', kind: 'dm', dmName: 'vg1-srv', major: 254, minor: 0, slaves: ['nvme1n1p1'] }]);
    spec.mounts.push({ source: '/dev/mapper/vg1-srv', mountpoint: '/srv', fstype: 'ext4' });
    const v = verdict(await planFor(spec, secondNvme), SECOND_NVME.nvme);
    expect(v.reason).toContain('in use by the host (dm-0 mounted on /srv)');
    expect(v.reason).not.toContain('held by');
  });

  it('an unused second NVMe is still bound (the guard does not block everything)', async () => {
    const v = verdict(await planFor(withSecondNvme(), secondNvme), SECOND_NVME.nvme);
    expect(v.state).toBe('pending');
  });
});

describe('multi-device filesystems', () => {
  it('the second device of a btrfs RAID1 root (mountinfo names only the first) is blocked', async () => {
    const p = await planFor(btrfsRaid1Root(), secondNvme);
    const v = verdict(p, SECOND_NVME.nvme);
    expect(v.state).toBe('blocked');
    expect(v.reason).toContain('nvme1n1p3 is a device of the mounted btrfs filesystem 4c1f7e2a-9b3d-4e55-8a61-2f0c9d7b3e11');
  });

  it('a bcachefs member is blocked, named by label', async () => {
    const spec = withSecondNvme();
    spec.multiDeviceFs = [{ type: 'bcachefs', uuid: '0b5c2d8e-1111-4a2b-9c3d-5e6f7a8b9c0d', label: 'pool', devices: ['nvme0n1p1', 'nvme1n1p1'] }];
    const v = verdict(await planFor(spec, secondNvme), SECOND_NVME.nvme);
    expect(v.state).toBe('blocked');
    expect(v.reason).toContain('nvme1n1p1 is a device of the mounted bcachefs filesystem "pool"');
  });
});
