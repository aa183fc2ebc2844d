/**
 * Which PCI devices the host uses for itself: disks backing a mounted filesystem or active swap, and
 * network interfaces that are up or carry a route. One pass over a handful of /proc files and the
 * (few) entries of /sys/block and /sys/class/net; the cost does not grow with the number of PCI devices.
 */
import { readlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Address, InUse } from '../model.js';
import { under } from '../paths.js';
import { list, readText, realpath } from './tolerant.js';

const PCI_ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const NVME_CONTROLLER = /^nvme\d+$/;




/** The PCI device a sysfs path lives under: the deepest PCI address among its components. */
export function owningPciAddress(sysfsPath: string): Address | null {
  const parts = sysfsPath.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    if (PCI_ADDRESS.test(parts[i]!)) return parts[i]!;
  }
  return null;
}

/** mountinfo and /proc/swaps escape space, tab, newline and backslash as octal (\040 …). */
export function unescapeOctal(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

interface BlockDev {
  name: string;
  /** Whole disk this is a partition of (itself for a disk). */
  disk: string;
  dir: string;
  majmin: string | null;
}

class BlockIndex {
  readonly byName = new Map<string, BlockDev>();
  readonly byMajmin = new Map<string, string>();
  readonly byDmName = new Map<string, string>();
  private readonly owners = new Map<string, Address[]>();

  constructor(private readonly root: string) {
    const sysBlock = under(root, '/sys/block');
    for (const disk of list(sysBlock)) {
      const dir = realpath(join(sysBlock, disk));
      if (dir === null) continue;
      this.add({ name: disk, disk, dir, majmin: readText(join(dir, 'dev'))?.trim() ?? null });
      const dmName = readText(join(dir, 'dm/name'));
      if (dmName !== null) this.byDmName.set(dmName.trim(), disk);
      for (const entry of list(dir)) {
        // Partitions are subdirectories named after the disk: sda2, nvme0n1p2.
        if (!entry.startsWith(disk) || entry === disk) continue;
        const majmin = readText(join(dir, entry, 'dev'));
        if (majmin !== null) this.add({ name: entry, disk, dir: join(dir, entry), majmin: majmin.trim() });
      }
    }
  }

  private add(dev: BlockDev): void {
    this.byName.set(dev.name, dev);
    if (dev.majmin) this.byMajmin.set(dev.majmin, dev.name);
  }

  /** Block device name for a mount/swap source: "/dev/sda2", "/dev/mapper/vg-root", "/dev/dm-1". */
  nameOfSource(source: string): string | null {
    if (source.startsWith('/dev/mapper/')) return this.byDmName.get(source.slice('/dev/mapper/'.length)) ?? null;
    if (source.startsWith('/dev/')) {
      const name = source.slice('/dev/'.length);
      return this.byName.has(name) ? name : null;
    }
    return null;
  }

  /** PCI devices behind a block device, following partitions, NVMe multipath heads and dm/md slaves. */
  ownersOf(name: string, depth = 0): Address[] {
    const cached = this.owners.get(name);
    if (cached) return cached;
    const dev = this.byName.get(name);
    if (!dev || depth > 8) return [];
    if (dev.name !== dev.disk) return this.remember(name, this.ownersOf(dev.disk, depth + 1));
    const direct = owningPciAddress(dev.dir);
    if (direct) return this.remember(name, [direct]);
    const found = new Set<Address>();
    // NVMe native multipath: the disk hangs off nvme-subsysN; its controllers are the nvmeX links there.
    const parent = dirname(dev.dir);
    if (basename(parent).startsWith('nvme-subsys')) {
      for (const entry of list(parent)) {
        if (!NVME_CONTROLLER.test(entry)) continue;
        const controller = realpath(join(parent, entry));
        const address = controller && owningPciAddress(controller);
        if (address) found.add(address);
      }
    }
    // Stacked devices (dm, md): whatever their slaves sit on.
    for (const slave of list(join(dev.dir, 'slaves'))) {
      for (const address of this.ownersOf(slave, depth + 1)) found.add(address);
    }
    return this.remember(name, [...found].sort());
  }

  private remember(name: string, owners: Address[]): Address[] {
    this.owners.set(name, owners);
    return owners;
  }

  /** Block devices udev marked as members of ZFS pools (run/udev/data/b<maj:min>): pool → names. */
  zfsMembers(): Map<string, string[]> {
    const pools = new Map<string, string[]>();
    for (const dev of this.byName.values()) {
      if (!dev.majmin) continue;
      const data = readText(under(this.root, `/run/udev/data/b${dev.majmin}`));
      if (data === null || !data.includes('E:ID_FS_TYPE=zfs_member')) continue;
      const pool = /^E:ID_FS_LABEL=(.*)$/m.exec(data)?.[1];
      if (pool) pools.set(pool, [...(pools.get(pool) ?? []), dev.name]);
    }
    return pools;
  }
}

class Facts {
  readonly map = new Map<Address, InUse[]>();
  private readonly seen = new Set<string>();

  add(addresses: Address[], fact: InUse): void {
    for (const address of addresses) {
      const key = `${address}|${fact.kind}|${fact.detail}`;
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      const facts = this.map.get(address) ?? [];
      facts.push(fact);
      this.map.set(address, facts);
    }
  }
}

function mountFacts(root: string, blocks: BlockIndex, facts: Facts): void {
  const text = readText(under(root, '/proc/self/mountinfo'));
  if (text === null) return;
  const reported = new Set<string>();
  let zfsPools: Map<string, string[]> | null = null;
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 0) continue;
    const majmin = fields[2] ?? '';
    const mountpoint = unescapeOctal(fields[4] ?? '');
    const fstype = fields[separator + 1] ?? '';
    const source = unescapeOctal(fields[separator + 2] ?? '');
    if (fstype === 'zfs') {
      // A dataset's maj:min is anonymous; the pool's member disks come from udev's database.
      const pool = source.split('/')[0] ?? '';
      zfsPools ??= blocks.zfsMembers();
      for (const member of zfsPools.get(pool) ?? []) {
        if (reported.has(`zfs:${pool}:${member}`)) continue;
        reported.add(`zfs:${pool}:${member}`);
        facts.add(blocks.ownersOf(member), { kind: 'mount', detail: `${member} (ZFS pool ${pool}) mounted on ${mountpoint}` });
      }
      continue;
    }
    const name = blocks.byMajmin.get(majmin) ?? blocks.nameOfSource(source);
    // Bind mounts repeat a device; its first mount (usually the real one) is the one worth naming.
    if (name === null || reported.has(name)) continue;
    reported.add(name);
    facts.add(blocks.ownersOf(name), { kind: 'mount', detail: `${name} mounted on ${mountpoint}` });
  }
}

function swapFacts(root: string, blocks: BlockIndex, facts: Facts): void {
  const text = readText(under(root, '/proc/swaps'));
  if (text === null) return;
  for (const line of text.split('\n').slice(1)) {
    const [file, type] = line.split(/\s+/);
    // Swap files live on a filesystem that the mount facts already cover.
    if (!file || type !== 'partition') continue;
    const name = blocks.nameOfSource(unescapeOctal(file));
    if (name !== null) facts.add(blocks.ownersOf(name), { kind: 'swap', detail: `swap on ${name}` });
  }
}

/** Interfaces with a route: Iface column of /proc/net/route, last column of ipv6_route. Value: has a default route. */
function routedInterfaces(root: string): Map<string, boolean> {
  const routed = new Map<string, boolean>();
  for (const line of (readText(under(root, '/proc/net/route')) ?? '').split('\n').slice(1)) {
    const [iface, destination, , , , , , mask] = line.split('\t');
    if (!iface) continue;
    routed.set(iface, (routed.get(iface) ?? false) || (destination === '00000000' && mask === '00000000'));
  }
  for (const line of (readText(under(root, '/proc/net/ipv6_route')) ?? '').split('\n')) {
    const fields = line.trim().split(/\s+/);
    const iface = fields[9];
    if (!iface || iface === 'lo') continue;
    const isDefault = fields[0] === '0'.repeat(32) && fields[1] === '00';
    routed.set(iface, (routed.get(iface) ?? false) || isDefault);
  }
  return routed;
}

function netFacts(root: string, facts: Facts): void {
  const classNet = under(root, '/sys/class/net');
  const routed = routedInterfaces(root);
  for (const iface of list(classNet)) {
    const dir = realpath(join(classNet, iface));
    const address = dir && owningPciAddress(dir);
    if (!dir || !address) continue; // virtual interfaces (lo, bridges, bonds)
    const flags = parseInt(readText(join(dir, 'flags')) ?? '0', 16);
    const up = (flags & 0x1) === 1 || readText(join(dir, 'operstate'))?.trim() === 'up';
    let master: string | null = null;
    try {
      master = basename(readlinkSync(join(dir, 'master')));
    } catch {
      // not enslaved to a bridge or bond
    }
    const parts: string[] = [];
    if (up) parts.push('is up');
    if (routed.has(iface)) parts.push(routed.get(iface) ? 'carries the default route' : 'carries a route');
    if (parts.length === 0) continue;
    const detail = `${iface} ${parts.join(' and ')}${master ? ` (port of ${master})` : ''}`;
    facts.add([address], { kind: 'netdev', detail });
  }
}

/** Mount, swap and netdev facts per PCI address (the console fact comes from `boot_vga`, see read.ts). */
export function readInUse(root: string): Map<Address, InUse[]> {
  const facts = new Facts();
  const blocks = new BlockIndex(root);
  mountFacts(root, blocks, facts);
  swapFacts(root, blocks, facts);
  netFacts(root, facts);
  return facts.map;
}
