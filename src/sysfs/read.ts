/**
 * One cheap pass over sysfs: every PCI device with its ids, driver, override, group and the facts that
 * make it the host's own, plus IOMMU groups and registered drivers. Synchronous reads: sysfs attributes
 * are generated in memory, so a read returns at once and needs no thread-pool round trip per file.
 */
import { closeSync, existsSync, openSync, readlinkSync, readSync } from 'node:fs';
import { compareAddresses, slotOf, type Address, type IommuGroup, type InUse, type PciDevice, type Snapshot } from '../model.js';
import { SYS_IOMMU_GROUPS, SYS_PCI_DEVICES, SYS_PCI_DRIVERS, under } from '../paths.js';
import { readDeviceHealth } from './health-read.js';
import { readInUse } from './inuse.js';
import { loadPciNames, type PciNames } from './pciids.js';
import { list } from './tolerant.js';
import type { LockedRead, LockedReader } from './bounded-read.js';

export interface ReadPciOptions {
  /** pci.ids to use, resolved under root; null turns names off; default: the distribution's database. */
  pciIdsPath?: string | null;
  /**
   * Reads driver_override and sriov_numvfs (their show() takes the device lock) off the main thread,
   * bounded (src/sysfs/bounded-read.ts). Without it they are read here, synchronously (the CLI).
   */
  locked?: LockedReader;
  /** What those attributes read last time, for a device whose lock is held now. */
  lastKnown?: (address: Address) => { driverOverride: string | null; sriovNumVfs: number | null } | undefined;
}

// One buffer for every small read: attributes are a few bytes; config is read up to 64 bytes
// (the world-readable part of config space; the header type sits at 0x0e).
const scratch = Buffer.alloc(4096);

function readInto(file: string, length: number): number | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    return readSync(fd, scratch, 0, length, 0);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

function readAttr(file: string): string | null {
  const n = readInto(file, scratch.length);
  return n === null ? null : scratch.toString('latin1', 0, n).trim();
}

function readHexAttr(file: string): number | null {
  const text = readAttr(file);
  if (text === null) return null;
  const value = parseInt(text, 16);
  return Number.isNaN(value) ? null : value;
}

function linkBase(file: string): string | null {
  try {
    const target = readlinkSync(file);
    return target.slice(target.lastIndexOf('/') + 1);
  } catch {
    return null;
  }
}


/** What the first 64 bytes of config space (world-readable) say; null when unreadable. */
interface ConfigHeader {
  vendorId: number;
  deviceId: number;
  headerType: number;
  subsystemVendorId: number;
  subsystemDeviceId: number;
  /** Every byte read is 0xff: nothing answers config reads (a dead or surprise-removed device). */
  allOnes: boolean;
}

function readConfigHeader(dir: string): ConfigHeader | null {
  const n = readInto(dir + '/config', 64);
  if (n === null || n < 0x30) return null;
  return {
    vendorId: scratch.readUInt16LE(0x00),
    deviceId: scratch.readUInt16LE(0x02),
    headerType: scratch[0x0e]! & 0x7f,
    // 0x2c/0x2e hold the subsystem ids only in a type 0 (endpoint) header.
    subsystemVendorId: scratch.readUInt16LE(0x2c),
    subsystemDeviceId: scratch.readUInt16LE(0x2e),
    allOnes: scratch.subarray(0, n).every((b) => b === 0xff),
  };
}

type DeviceCore = Omit<PciDevice, 'slotSiblings' | 'inUse' | 'vendorName' | 'deviceName'>;

/** The kernel prints an unset override as "(null)". */
const parseOverride = (text: string | null): string | null => (text === null || text === '' || text === '(null)' ? null : text);
const parseNumVfs = (text: string | null): number | null => (text === null || text === '' ? null : Number(text));
type PciPart = Omit<Snapshot, 'iommu' | 'hostHealth'>;

/** One device's attributes; null when it vanished while being read (hot-remove). */
function readDevice(dir: string, address: Address, deferLocked?: LockedRead[]): DeviceCore | null {
  // Plain concatenation, not path.join: this runs a dozen times per device.
  // Ids come from config space where it is authoritative (one read instead of four): not for an SR-IOV
  // VF (its ID registers read 0xffff), nor for bridges (no subsystem ids at 0x2c). The class always
  // comes from sysfs, which carries the kernel's class quirks.
  const header = readConfigHeader(dir);
  const classCode = readHexAttr(dir + '/class');
  const fromConfig = header !== null && header.headerType === 0 && header.vendorId !== 0xffff;
  const vendorId = fromConfig ? header.vendorId : readHexAttr(dir + '/vendor');
  const deviceId = fromConfig ? header.deviceId : readHexAttr(dir + '/device');
  if (vendorId === null || deviceId === null || classCode === null) return null;
  // driver_override and sriov_numvfs take the device lock: read later, bounded, when deferLocked is given.
  const hasNumVfs = existsSync(dir + '/sriov_numvfs'); // only SR-IOV physical functions have it
  if (deferLocked) {
    deferLocked.push({ address, file: dir + '/driver_override' });
    if (hasNumVfs) deferLocked.push({ address, file: dir + '/sriov_numvfs' });
  }
  const override = deferLocked ? null : readAttr(dir + '/driver_override');
  const group = linkBase(dir + '/iommu_group');
  const numVfs = hasNumVfs && !deferLocked ? readAttr(dir + '/sriov_numvfs') : null;
  const driver = linkBase(dir + '/driver');
  return {
    address,
    vendorId,
    deviceId,
    subsystemVendorId: fromConfig ? header.subsystemVendorId : (readHexAttr(dir + '/subsystem_vendor') ?? 0),
    subsystemDeviceId: fromConfig ? header.subsystemDeviceId : (readHexAttr(dir + '/subsystem_device') ?? 0),
    classCode,
    // Class-based guess when config is unreadable or reads all ones (a device that does not answer).
    headerType: header && header.headerType !== 0x7f ? header.headerType : (classCode >> 8 === 0x0604 || classCode >> 8 === 0x0609 ? 1 : 0),
    driver,
    // The kernel prints an unset override as "(null)".
    driverOverride: parseOverride(override),
    iommuGroup: group === null ? null : Number(group),
    // The kernel creates boot_vga for display-class devices only; skip a certain ENOENT for the rest.
    bootVga: classCode >> 16 === 0x03 && readAttr(dir + '/boot_vga') === '1',
    sriovNumVfs: parseNumVfs(numVfs),
    physfn: linkBase(dir + '/physfn'),
    openByVm: driver === 'vfio-pci' && readAttr(dir + '/enable') === '1',
    health: readDeviceHealth(dir, classCode, header?.allOnes ?? false),
  };
}

/**
 * Groups with their members. Members come from the devices' own `iommu_group` links (already read;
 * the kernel creates both directions together), which saves a directory listing per group.
 */
function readGroups(root: string, devices: DeviceCore[]): IommuGroup[] {
  const members = new Map<number, Address[]>();
  for (const d of devices) {
    if (d.iommuGroup !== null) members.set(d.iommuGroup, [...(members.get(d.iommuGroup) ?? []), d.address]);
  }
  const groupsDir = under(root, SYS_IOMMU_GROUPS);
  const groups: IommuGroup[] = [];
  for (const entry of list(groupsDir)) {
    const id = Number(entry);
    if (!Number.isInteger(id)) continue;
    const dir = groupsDir + '/' + entry;
    // `name` exists only for named groups ("vfio-noiommu").
    const name = existsSync(dir + '/name') ? readAttr(dir + '/name') : null;
    groups.push({ id, devices: (members.get(id) ?? []).sort(compareAddresses), type: readAttr(dir + '/type'), name });
  }
  return groups.sort((a, b) => a.id - b.id);
}

function siblingsBySlot(addresses: Address[]): Map<string, Address[]> {
  const slots = new Map<string, Address[]>();
  for (const address of addresses) {
    const slot = slotOf(address);
    slots.set(slot, [...(slots.get(slot) ?? []), address]);
  }
  return slots;
}

function finish(core: DeviceCore, slots: Map<string, Address[]>, inUse: Map<Address, InUse[]>, names: PciNames): PciDevice {
  const facts = [...(inUse.get(core.address) ?? [])];
  // boot_vga = 1: firmware and kernel console run on this GPU.
  if (core.bootVga) facts.push({ kind: 'console', detail: 'boot VGA (host console)' });
  return {
    ...core,
    slotSiblings: (slots.get(slotOf(core.address)) ?? []).filter((a) => a !== core.address),
    inUse: facts,
    vendorName: names.vendor(core.vendorId),
    deviceName: names.device(core.vendorId, core.deviceId),
  };
}

/**
 * Devices read between two turns of the event loop. A scan of 4,096 functions takes ~0.6 s of reads:
 * in slices of this size the daemon answers D-Bus (root's Get, SIGTERM) within milliseconds meanwhile.
 */
const DEVICES_PER_SLICE = 64;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Reads every PCI device, IOMMU group and registered PCI driver under `root`, yielding to the event
 * loop every DEVICES_PER_SLICE devices.
 */
export async function readPci(root: string, opts: ReadPciOptions = {}): Promise<PciPart> {
  const devicesDir = under(root, SYS_PCI_DEVICES);
  const cores: DeviceCore[] = [];
  const deferred: LockedRead[] | undefined = opts.locked ? [] : undefined;
  let inSlice = 0;
  for (const address of list(devicesDir).sort(compareAddresses)) {
    const core = readDevice(devicesDir + '/' + address, address, deferred);
    if (core) cores.push(core);
    if (++inSlice === DEVICES_PER_SLICE) {
      inSlice = 0;
      await nextTurn();
    }
  }
  if (!opts.locked || !deferred) return assemble(root, cores, opts);
  const { values, held } = await opts.locked.read(deferred);
  const withLocked = cores.map((core) => {
    const dir = devicesDir + '/' + core.address;
    if (held.has(core.address)) {
      const known = opts.lastKnown?.(core.address);
      return { ...core, driverOverride: known?.driverOverride ?? null, sriovNumVfs: known?.sriovNumVfs ?? null };
    }
    return { ...core, driverOverride: parseOverride(values.get(dir + '/driver_override') ?? null), sriovNumVfs: parseNumVfs(values.get(dir + '/sriov_numvfs') ?? null) };
  });
  const part = assemble(root, withLocked, opts);
  return held.size > 0 ? { ...part, unreadable: Object.fromEntries(held) } : part;
}

export function readPciSync(root: string, opts: ReadPciOptions = {}): PciPart {
  const devicesDir = under(root, SYS_PCI_DEVICES);
  const cores: DeviceCore[] = [];
  for (const address of list(devicesDir).sort(compareAddresses)) {
    const core = readDevice(devicesDir + '/' + address, address);
    if (core) cores.push(core);
  }
  return assemble(root, cores, opts);
}

function assemble(root: string, cores: DeviceCore[], opts: ReadPciOptions): PciPart {
  const slots = siblingsBySlot(cores.map((d) => d.address));
  const inUse = readInUse(root);
  const names = loadPciNames(root, opts.pciIdsPath);
  return {
    devices: cores.map((core) => finish(core, slots, inUse, names)),
    groups: readGroups(root, cores),
    drivers: list(under(root, SYS_PCI_DRIVERS)).sort(),
  };
}
