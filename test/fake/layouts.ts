/**
 * Real host layouts for the host-safety tests (issue 10): each starts from a named host in hosts.ts
 * and adds what a real installation has (a second NVMe with LVM-thin, a btrfs RAID1 root, VMD, …).
 */
import { SEED, seedIntel } from './hosts.js';
import type { BlockSpec, HostSpec } from './tree.js';

export const SECOND_NVME = { rootPort: '0000:00:1b.4', nvme: '0000:05:00.0' } as const;

/** seedIntel plus a second NVMe (nvme1n1, no multipath) whose disk nothing mounts. */
export function withSecondNvme(extraBlock: BlockSpec[] = []): HostSpec {
  const spec = seedIntel();
  spec.devices.push(
    { address: SECOND_NVME.rootPort, vendor: 0x8086, device: 0xa340, classCode: 0x060400, driver: 'pcieport', group: 12 },
    { address: SECOND_NVME.nvme, parent: SECOND_NVME.rootPort, vendor: 0x144d, device: 0xa808, subsystemVendor: 0x144d, subsystemDevice: 0xa801, classCode: 0x010802, driver: 'nvme', group: 13 },
  );
  spec.block.push({ name: 'nvme1n1', kind: 'nvme', controller: SECOND_NVME.nvme, major: 259, minor: 8, partitions: [1] }, ...extraBlock);
  return spec;
}

/**
 * Proxmox "local-lvm": LVM-thin pool `pve/data` on nvme1n1p1 and one VM disk. lvm2 names the
 * thin-pool parts data_tmeta/data_tdata, the pool data-tpool; nothing on top is mounted.
 */
export function lvmThinOnSecondNvme(): HostSpec {
  return withSecondNvme([
    { name: 'dm-0', kind: 'dm', dmName: 'pve-data_tmeta', major: 254, minor: 0, slaves: ['nvme1n1p1'] },
    { name: 'dm-1', kind: 'dm', dmName: 'pve-data_tdata', major: 254, minor: 1, slaves: ['nvme1n1p1'] },
    { name: 'dm-2', kind: 'dm', dmName: 'pve-data-tpool', major: 254, minor: 2, slaves: ['dm-0', 'dm-1'] },
    { name: 'dm-3', kind: 'dm', dmName: 'pve-data', major: 254, minor: 3, slaves: ['dm-2'] },
    { name: 'dm-4', kind: 'dm', dmName: 'pve-vm--100--disk--0', major: 254, minor: 4, slaves: ['dm-2'] },
  ]);
}

export const BTRFS_RAID1 = { rootPort: '0000:00:1b.4', nvme: '0000:05:00.0', fsid: '4c1f7e2a-9b3d-4e55-8a61-2f0c9d7b3e11' } as const;

/** Proxmox installer "BTRFS (RAID1)": the root filesystem spans nvme0n1p3 and nvme1n1p3; mountinfo names the first. */
export function btrfsRaid1Root(): HostSpec {
  const spec = withSecondNvme();
  spec.block = spec.block.filter((b) => b.name !== 'nvme1n1');
  spec.block.push({ name: 'nvme1n1', kind: 'nvme', controller: BTRFS_RAID1.nvme, major: 259, minor: 8, partitions: [1, 2, 3] });
  const nvme0 = spec.block.find((b) => b.name === 'nvme0n1')!;
  nvme0.partitions = [1, 2, 3];
  spec.mounts = spec.mounts.filter((m) => m.mountpoint !== '/home' && m.mountpoint !== '/');
  spec.mounts.unshift({ source: '/dev/nvme0n1p3', mountpoint: '/', fstype: 'btrfs' });
  spec.multiDeviceFs = [{ type: 'btrfs', uuid: BTRFS_RAID1.fsid, devices: ['nvme0n1p3', 'nvme1n1p3'] }];
  return spec;
}

export { SEED };

export const VMD = { controller: '0000:00:0e.0', rootPort: '10000:e0:06.0', nvme: '10000:e1:00.0' } as const;

/**
 * Intel VMD (RST "RAID" mode on recent desktops and servers): the root NVMe sits in PCI domain 10000,
 * on a bus the VMD endpoint creates (sys/devices/pci0000:00/0000:00:0e.0/pci10000:e0/…). The system disk is on it.
 */
export function vmdRootNvme(): HostSpec {
  const spec = seedIntel();
  spec.devices = spec.devices.filter((d) => d.address !== SEED.nvme && d.address !== SEED.nvmeRootPort);
  spec.devices.push(
    { address: VMD.controller, vendor: 0x8086, device: 0x467f, classCode: 0x010400, driver: 'vmd', group: 5 },
    { address: VMD.rootPort, parent: VMD.controller, vendor: 0x8086, device: 0xa74d, classCode: 0x060400, driver: 'pcieport', group: 5 },
    { address: VMD.nvme, parent: VMD.rootPort, vendor: 0x144d, device: 0xa80a, subsystemVendor: 0x144d, subsystemDevice: 0xa801, classCode: 0x010802, driver: 'nvme', group: 5 },
  );
  spec.drivers.vmd = { ids: ['8086:467f'], loaded: true };
  spec.block = [
    { name: 'sda', kind: 'ata', controller: SEED.sata, major: 8, minor: 0, partitions: [1] },
    { name: 'nvme0n1', kind: 'nvme', controller: VMD.nvme, major: 259, minor: 0, partitions: [1, 2, 3] },
  ];
  spec.mounts = [
    { source: '/dev/nvme0n1p2', mountpoint: '/', fstype: 'ext4' },
    { source: '/dev/nvme0n1p1', mountpoint: '/boot/efi', fstype: 'vfat' },
    { source: '/dev/sda1', mountpoint: '/srv', fstype: 'ext4' },
  ];
  spec.swaps = ['/dev/nvme0n1p3'];
  return spec;
}

export const TWIN_NICS = { mgmt: SEED.nic, spare: SEED.spareNic, mgmtMac: '3c:ec:ef:10:20:31', spareMac: '3c:ec:ef:10:20:30' } as const;

/**
 * The seed at boot, before networking.service: eno1 (the management NIC) and its identical twin
 * enp3s0 (both I210, 8086:1533) are down and nothing carries a route yet. `etcFiles` is the
 * persistent network configuration to add.
 */
export function twinNicsAtBoot(etcFiles: Record<string, string>): HostSpec {
  const spec = seedIntel();
  for (const d of spec.devices) {
    for (const net of d.net ?? []) {
      net.up = false;
      net.mac = d.address === TWIN_NICS.mgmt ? TWIN_NICS.mgmtMac : TWIN_NICS.spareMac;
    }
  }
  spec.routes = [];
  spec.routes6 = [];
  spec.etcFiles = etcFiles;
  return spec;
}

/** What the Proxmox VE installer writes (ifupdown2), with the bridge in interfaces.d through `source`. */
export const PROXMOX_INTERFACES = `auto lo
iface lo inet loopback

iface eno1 inet manual

source /etc/network/interfaces.d/*
`;

export const PROXMOX_VMBR0 = `auto vmbr0
iface vmbr0 inet static
\taddress 192.168.1.10/24
\tgateway 192.168.1.1
\tbridge-ports eno1
\tbridge-stp off
\tbridge-fd 0
`;

export const PCH = { lpc: SEED.lpc, audio: '0000:00:1f.3', smbus: '0000:00:1f.4' } as const;

/** Intel PCH without ACS between its functions: LPC (on lpc_ich), HD audio and SMBus share group 11. */
export function pchGroup(): HostSpec {
  const spec = seedIntel();
  const lpc = spec.devices.find((d) => d.address === SEED.lpc)!;
  lpc.driver = 'lpc_ich';
  spec.devices.push(
    { address: PCH.audio, vendor: 0x8086, device: 0xa348, classCode: 0x040300, driver: 'snd_hda_intel', group: 11 },
    { address: PCH.smbus, vendor: 0x8086, device: 0xa323, classCode: 0x0c0500, driver: 'i801_smbus', group: 11 },
  );
  spec.drivers.lpc_ich = { ids: ['8086:a306'], loaded: true };
  spec.drivers.snd_hda_intel!.ids!.push('8086:a348');
  spec.drivers.i801_smbus = { ids: ['8086:a323'], loaded: true };
  return spec;
}
