/**
 * Which PCI devices the host uses for itself: disks backing a mounted filesystem or active swap, disks
 * held open by a stacked block device (dm, md, bcache, loop) or belonging to a mounted multi-device
 * filesystem or an imported ZFS pool, network interfaces that are up or carry a route, and those the
 * host's persistent network configuration uses (netconfig/, which matters at boot). One pass over
 * a handful of /proc files and the (few) entries of /sys/block, /sys/fs and /sys/class/net; the cost
 * does not grow with the number of PCI devices.
 */
import { readlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { compareAddresses, isPciAddress, type Address, type InUse } from '../model.js';
import { under } from '../paths.js';
import { readNetConfigUse, readNetDevices } from './netconfig/read.js';
import { list, readText, realpath } from './tolerant.js';

const NVME_CONTROLLER = /^nvme\d+$/;
/** Holder chains are short (partition → dm → thin pool → thin volume); anything deeper is a loop. */
const MAX_DEPTH = 8;
/** How many top-of-chain holders a fact names before "and N more". */
const SHOWN_HOLDERS = 3;

/** The PCI device a sysfs path lives under: the deepest PCI address among its components. */
export function owningPciAddress(sysfsPath: string): Address | null {
  const parts = sysfsPath.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    if (isPciAddress(parts[i]!)) return parts[i]!;
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

  /** "dm-3 (pve-vm--100--disk--0)" for device-mapper devices, the plain name otherwise. */
  label(name: string): string {
    const dev = this.byName.get(name);
    const dmName = dev && dev.name === dev.disk ? readText(join(dev.dir, 'dm/name'))?.trim() : undefined;
    return dmName ? `${name} (${dmName})` : name;
  }

  holdersOf(name: string): string[] {
    const dev = this.byName.get(name);
    return dev ? list(join(dev.dir, 'holders')).sort() : [];
  }

  /** The devices at the top of every holder chain above `name` (what is really in use). */
  topHolders(name: string, depth = 0, seen = new Set<string>()): string[] {
    const holders = this.holdersOf(name);
    if (holders.length === 0 || depth > MAX_DEPTH) return depth === 0 ? [] : [name];
    const tops: string[] = [];
    for (const holder of holders) {
      if (seen.has(holder)) continue;
      seen.add(holder);
      tops.push(...this.topHolders(holder, depth + 1, seen));
    }
    return tops;
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
    if (!dev || depth > MAX_DEPTH) return [];
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
    return this.remember(name, [...found].sort(compareAddresses));
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
  /** Block devices already named by a mount or swap fact (so a holder or member fact does not repeat them). */
  readonly usedBlocks = new Set<string>();

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
        facts.usedBlocks.add(member);
        facts.add(blocks.ownersOf(member), { kind: 'mount', detail: `${member} (ZFS pool ${pool}) mounted on ${mountpoint}` });
      }
      continue;
    }
    const name = blocks.byMajmin.get(majmin) ?? blocks.nameOfSource(source);
    // Bind mounts repeat a device; its first mount (usually the real one) is the one worth naming.
    if (name === null || reported.has(name)) continue;
    reported.add(name);
    facts.usedBlocks.add(name);
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
    if (name === null) continue;
    facts.usedBlocks.add(name);
    facts.add(blocks.ownersOf(name), { kind: 'swap', detail: `swap on ${name}` });
  }
}

/**
 * A block device with entries in `holders/` is held open by the kernel for a dm, md or bcache device
 * stacked on it (LVM and LVM-thin volumes, Ceph OSDs, software RAID), whether or not anything on top is
 * mounted. A loop device over a block device names it in `loop/backing_file` instead.
 */
function holderFacts(blocks: BlockIndex, facts: Facts): void {
  for (const dev of blocks.byName.values()) {
    const holders = blocks.holdersOf(dev.name);
    // Said once, at the bottom of the stack: a dm/md device in the middle has slaves of its own.
    if (holders.length === 0 || list(join(dev.dir, 'slaves')).length > 0) continue;
    const tops = [...new Set(blocks.topHolders(dev.name))];
    // Already said: every chain ends in a mounted filesystem or active swap.
    if (tops.length > 0 && tops.every((t) => facts.usedBlocks.has(t))) continue;
    const direct = holders.map((h) => blocks.label(h)).join(', ');
    const above = tops.filter((t) => !holders.includes(t));
    const shown = above.slice(0, SHOWN_HOLDERS).map((t) => blocks.label(t)).join(', ');
    const more = above.length > SHOWN_HOLDERS ? ` and ${above.length - SHOWN_HOLDERS} more` : '';
    const chain = above.length > 0 ? `, under ${shown}${more}` : '';
    facts.add(blocks.ownersOf(dev.name), { kind: 'holder', detail: `${dev.name} is held by ${direct}${chain}` });
  }
  for (const dev of blocks.byName.values()) {
    if (dev.name !== dev.disk || !dev.name.startsWith('loop')) continue;
    const backing = readText(join(dev.dir, 'loop/backing_file'))?.trim();
    const name = backing ? blocks.nameOfSource(backing) : null;
    if (name === null) continue;
    facts.add(blocks.ownersOf(name), { kind: 'holder', detail: `${name} is the backing device of ${dev.name}` });
  }
}

/**
 * Mounted multi-device filesystems list every member in sysfs, while mountinfo names only one:
 * /sys/fs/btrfs/<fsid>/devices/<name> and /sys/fs/bcachefs/<uuid>/dev-N/block link to the block devices.
 */
function multiDeviceFsFacts(root: string, blocks: BlockIndex, facts: Facts): void {
  const sources: { type: string; dir: string; members: string[] }[] = [];
  const btrfs = under(root, '/sys/fs/btrfs');
  for (const fsid of list(btrfs)) {
    const members = list(join(btrfs, fsid, 'devices'));
    if (members.length > 0) sources.push({ type: 'btrfs', dir: join(btrfs, fsid), members });
  }
  const bcachefs = under(root, '/sys/fs/bcachefs');
  for (const uuid of list(bcachefs)) {
    const members = list(join(bcachefs, uuid))
      .filter((e) => e.startsWith('dev-'))
      .map((e) => realpath(join(bcachefs, uuid, e, 'block')))
      .filter((p): p is string => p !== null)
      .map((p) => basename(p));
    if (members.length > 0) sources.push({ type: 'bcachefs', dir: join(bcachefs, uuid), members });
  }
  for (const fs of sources) {
    const uuid = basename(fs.dir);
    const label = (readText(join(fs.dir, 'label')) ?? readText(join(fs.dir, 'options/label')))?.trim();
    const name = label ? `"${label}" (${uuid})` : uuid;
    for (const member of fs.members) {
      if (facts.usedBlocks.has(member) || !blocks.byName.has(member)) continue;
      facts.add(blocks.ownersOf(member), { kind: 'filesystem', detail: `${member} is a device of the mounted ${fs.type} filesystem ${name}` });
    }
  }
}

/** Members of imported ZFS pools (each has /proc/spl/kstat/zfs/<pool>): a pool of zvols only mounts nothing. */
function zfsPoolFacts(root: string, blocks: BlockIndex, facts: Facts): void {
  const imported = new Set(list(under(root, '/proc/spl/kstat/zfs')));
  if (imported.size === 0) return;
  for (const [pool, members] of blocks.zfsMembers()) {
    if (!imported.has(pool)) continue;
    for (const member of members) {
      if (facts.usedBlocks.has(member)) continue;
      facts.add(blocks.ownersOf(member), { kind: 'holder', detail: `${member} is a device of the imported ZFS pool ${pool}` });
    }
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

/** Mount, swap, holder, filesystem, netdev and netconfig facts per PCI address (the console fact comes from `boot_vga`, see read.ts). */
export function readInUse(root: string): Map<Address, InUse[]> {
  const facts = new Facts();
  const blocks = new BlockIndex(root);
  mountFacts(root, blocks, facts);
  swapFacts(root, blocks, facts);
  holderFacts(blocks, facts);
  multiDeviceFsFacts(root, blocks, facts);
  zfsPoolFacts(root, blocks, facts);
  netFacts(root, facts);
  for (const [address, uses] of readNetConfigUse(root, readNetDevices(root, owningPciAddress))) {
    for (const use of uses) facts.add([address], use);
  }
  return facts.map;
}
