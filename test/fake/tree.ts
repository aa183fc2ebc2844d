/**
 * Builds a fake host tree (sys, proc, dev, etc, boot, lib, usr) with the real kernel's layout: devices
 * nested under their upstream bridges, relative symlinks with the right depth, attribute files with
 * kernel formatting. Writes to its kernel attributes obey the fake kernel (kernel.cjs) once the shim is
 * loaded (kernel-shim.cjs), in this process or in children started with `host.env`.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const FAKE_DIR = dirname(fileURLToPath(import.meta.url));
export const SHIM_PATH = join(FAKE_DIR, 'kernel-shim.cjs');
export const FAKE_BIN = join(FAKE_DIR, 'bin');

interface KernelModule {
  writeRaw(file: string, data: string | Buffer): void;
  readKernel(tree: string): KernelJson;
  saveKernel(tree: string, kernel: KernelJson): void;
  deviceDir(tree: string, address: string): string | null;
  detach(tree: string, kernel: KernelJson, dir: string): void;
  probeDevice(tree: string, kernel: KernelJson, dir: string): void;
}
const kernel = require('./kernel.cjs') as KernelModule;

/** Installs the fs shim in this process (idempotent): writes into fake trees follow the fake kernel. */
export function loadShim(): void {
  require('./kernel-shim.cjs');
}

// ─────────────────────────────── spec ───────────────────────────────

export interface DriverSpec {
  /** Module name when it differs from the driver name ("vfio_pci" for "vfio-pci", "xhci_pci" for "xhci_hcd"). */
  module?: string;
  /** Id table: "vvvv:dddd" or "vvvv:dddd:cccccc/mmmmmm" (class and mask), "*" for any id half. */
  ids?: string[];
  /** Probes like vfio-pci: refuses bridges (EINVAL), devices without a group or IOMMU off (EINVAL), PF with VFs (EBUSY). */
  vfio?: boolean;
  /** Registered at boot (its /sys/bus/pci/drivers dir exists). */
  loaded: boolean;
  /** Built into the kernel (modules.builtin) rather than a loaded module. */
  builtin?: boolean;
  /** `modprobe` can load it later. */
  loadable?: boolean;
  /** Modules `modprobe` loads with it. */
  deps?: string[];
}

export interface DeviceSpec {
  address: string;
  /** Upstream bridge / root port; omitted = on the root bus. */
  parent?: string;
  vendor: number;
  device: number;
  subsystemVendor?: number;
  subsystemDevice?: number;
  classCode: number;
  driver?: string | null;
  override?: string | null;
  group?: number | null;
  bootVga?: boolean;
  /** PCIe (4096-byte config) unless false (conventional PCI: 256 bytes). */
  pcie?: boolean;
  sriov?: { totalVfs: number; numVfs: number };
  physfn?: string;
  net?: { name: string; up: boolean; master?: string; mac?: string }[];
  /**
   * `reset_method` as the kernel lists it at enumeration (default: "flr bus" for endpoints, "pm" for
   * bridges); null: the kernel cannot reset the function (no `reset`, no `reset_method`).
   */
  resetMethods?: string[] | null;
  /** Methods a write to reset_method accepts although not listed at boot (device_specific once vendor-reset hooks it). */
  extraResetMethods?: string[];
  /** Config space reads all 0xff (a device that stopped answering); the cached sysfs ids stay. */
  deadConfig?: boolean;
  /** Memory BARs, written to `resource` and /proc/iomem. */
  bars?: { bar: number; start: number; end: number }[];
  /** DRM nodes of a GPU (entries of its sysfs `drm/`: "card1", "renderD128"). */
  drm?: string[];
  /** NVIDIA driver's minor (/proc/driver/nvidia/gpus/<address>/information "Device Minor:"). */
  nvidiaMinor?: number;
}

/** A process as /proc shows it: comm, argv and the files its fds point at. */
export interface ProcessSpec {
  pid: number;
  comm: string;
  argv: string[];
  /** Absolute paths on the host, as /proc/PID/fd/N links read ("/dev/vfio/6"). */
  files: string[];
}

/** Adds /proc/PID with comm, cmdline and one fd link per file (the links dangle: only their text matters). */
export function addFakeProcess(root: string, p: ProcessSpec): void {
  const dir = join(root, 'proc', String(p.pid));
  write(join(dir, 'comm'), `${p.comm}\n`);
  write(join(dir, 'cmdline'), p.argv.map((a) => `${a}\0`).join(''));
  mkdirSync(join(dir, 'fd'), { recursive: true });
  for (const n of [0, 1, 2]) symlinkSync('/dev/null', join(dir, 'fd', String(n)));
  p.files.forEach((file, i) => symlinkSync(file, join(dir, 'fd', String(3 + i))));
}

export function removeFakeProcess(root: string, pid: number): void {
  rmSync(join(root, 'proc', String(pid)), { recursive: true, force: true });
}

export interface BlockSpec {
  name: string;
  /** Stacked devices (dm, md, bcache) hold their slaves (`holders/`); a loop device names its backing file. */
  kind: 'ata' | 'nvme-multipath' | 'nvme' | 'dm' | 'md' | 'bcache' | 'loop';
  /** PCI address of the controller (ata, nvme). */
  controller?: string;
  major: number;
  minor: number;
  partitions?: number[];
  /** dm: device-mapper name (`/dev/mapper/<name>`) and its underlying block devices. */
  dmName?: string;
  slaves?: string[];
  /** loop: `loop/backing_file` (a path; "/dev/sdb1" for a loop over a block device). */
  backingFile?: string;
}

/** A mounted multi-device filesystem as the kernel lists it: /sys/fs/btrfs/<fsid>/devices/<name>. */
export interface MultiDeviceFsSpec {
  type: 'btrfs' | 'bcachefs';
  uuid: string;
  label?: string;
  devices: string[];
}

export interface HostSpec {
  cpu: 'intel' | 'amd';
  /** DMA remapping active: groups exist, /sys/class/iommu has a unit, firmware table present. */
  iommu: boolean;
  interruptRemapping: boolean;
  devices: DeviceSpec[];
  drivers: Record<string, DriverSpec>;
  block: BlockSpec[];
  mounts: { source: string; mountpoint: string; fstype: string }[];
  swaps: string[];
  routes: { iface: string; destination: string; gateway: string; mask: string }[];
  routes6: string[];
  /** Block devices udev marks as ZFS pool members: name → pool. */
  zfsMembers?: Record<string, string>;
  /** Imported ZFS pools (each has /proc/spl/kstat/zfs/<pool>). */
  zfsImported?: string[];
  multiDeviceFs?: MultiDeviceFsSpec[];
  /** Files under etc/ (relative path → content), e.g. network/interfaces. */
  etcFiles?: Record<string, string>;
  kernelRelease: string;
  cmdline: string;
  bootloader: 'grub' | 'proxmox-boot-tool';
  groupType: string;
  allowUnsafeInterrupts?: boolean;
  etcModules?: string;
  modulesLoadD?: Record<string, string>;
  modprobeD?: Record<string, string>;
  pciIds: string | null;
  hangUnbind?: string[];
  failUnbind?: Record<string, string>;
  /** A firmware framebuffer region in /proc/iomem (nested under the BAR that contains it). */
  framebuffer?: { name: string; start: number; end: number };
  /** The vendor-reset module is loaded (/sys/module/vendor_reset). */
  vendorReset?: boolean;
  processes?: ProcessSpec[];
}

export interface KernelJson {
  iommu: boolean;
  drivers: Record<string, DriverSpec>;
  hangUnbind: string[];
  failUnbind: Record<string, string>;
  /** Unbinds whose driver remove() takes this many ms, holding device_lock (address → ms). */
  slowUnbind?: Record<string, number>;
  failProbe: Record<string, { driver: string; code: string }>;
  /** Reset methods each device's reset_method accepts (address → names). */
  resetSupported?: Record<string, string[]>;
  /** What "default" restores: the methods probed at enumeration. */
  resetDefault?: Record<string, string[]>;
}

export interface FakeHost {
  /** The tree root: pass it as `root` to the code under test. */
  root: string;
  spec: HostSpec;
  /** Environment for child processes: fake modprobe first on PATH, FAKE_KERNEL_TREE, the shim in NODE_OPTIONS. */
  env: Record<string, string>;
  /** Real directory of a device (under sys/devices). */
  deviceDir(address: string): string;
  addDevice(device: DeviceSpec): void;
  /** Hot-remove: unbind, drop its dir, bus link, group membership and driver links. */
  removeDevice(address: string): void;
  kernel(): KernelJson;
  updateKernel(change: (kernel: KernelJson) => void): void;
  /** Deletes the whole tree. */
  cleanup(): void;
}

// ─────────────────────────────── builder ───────────────────────────────

const hex = (n: number, width: number) => `0x${n.toString(16).padStart(width, '0')}\n`;

function write(file: string, data: string | Buffer): void {
  mkdirSync(dirname(file), { recursive: true });
  kernel.writeRaw(file, data);
}

function link(target: string, linkPath: string): void {
  mkdirSync(dirname(linkPath), { recursive: true });
  rmSync(linkPath, { force: true });
  symlinkSync(relative(dirname(linkPath), target), linkPath);
}

function isBridgeClass(classCode: number): boolean {
  const subclass = classCode >> 8;
  return subclass === 0x0604 || subclass === 0x0609;
}

function configSpace(d: DeviceSpec, multifunction: boolean): Buffer {
  const config = Buffer.alloc(d.pcie === false ? 256 : 4096);
  // A device that no longer answers: every config read completes with all ones.
  if (d.deadConfig) return config.fill(0xff);
  // An SR-IOV virtual function reads 0xffff in its Vendor and Device ID registers (PCIe SR-IOV spec);
  // the kernel's `vendor`/`device` attributes carry the real ids, taken from the PF's capability.
  config.writeUInt16LE(d.physfn ? 0xffff : d.vendor, 0);
  config.writeUInt16LE(d.physfn ? 0xffff : d.device, 2);
  config.writeUInt8(d.classCode & 0xff, 0x09);
  config.writeUInt8((d.classCode >> 8) & 0xff, 0x0a);
  config.writeUInt8((d.classCode >> 16) & 0xff, 0x0b);
  const header = isBridgeClass(d.classCode) ? 1 : 0;
  config.writeUInt8(header | (multifunction ? 0x80 : 0), 0x0e);
  if (header === 0) {
    config.writeUInt16LE(d.subsystemVendor ?? d.vendor, 0x2c);
    config.writeUInt16LE(d.subsystemDevice ?? 0, 0x2e);
  }
  return config;
}

export function resetMethodsOf(d: DeviceSpec): string[] | null {
  if (d.resetMethods !== undefined) return d.resetMethods;
  return isBridgeClass(d.classCode) ? ['pm'] : ['flr', 'bus'];
}

const hex16 = (n: number) => `0x${n.toString(16).padStart(16, '0')}`;

/** `resource`: 13 lines "start end flags" (BARs 0-5, ROM, bridge windows); unused regions read zeros; 0x40200 = MEM|SIZEALIGN. */
function resourceFile(bars: { bar: number; start: number; end: number }[]): string {
  return Array.from({ length: 13 }, (_, i) => {
    const b = bars.find((x) => x.bar === i);
    return b ? `${hex16(b.start)} ${hex16(b.end)} 0x0000000000040200\n` : `${hex16(0)} ${hex16(0)} ${hex16(0)}\n`;
  }).join('');
}

/** Little-endian hex of a dotted IPv4 address, as /proc/net/route prints it. */
function routeHex(dotted: string): string {
  return dotted
    .split('.')
    .reverse()
    .map((octet) => Number(octet).toString(16).padStart(2, '0').toUpperCase())
    .join('');
}

class Builder {
  constructor(
    readonly root: string,
    readonly spec: HostSpec,
  ) {}

  p(...parts: string[]): string {
    return join(this.root, ...parts);
  }

  private readonly dirs = new Map<string, string>();
  private readonly slots = new Map<string, number>();
  private readonly vfCounts = new Map<string, number>();

  deviceDir(address: string): string {
    const known = this.dirs.get(address);
    if (known) return known;
    const d = this.spec.devices.find((x) => x.address === address);
    if (!d) throw new Error(`fake tree: no device ${address} in the spec`);
    // "%04x:%02x" of domain and bus; a child bus in another domain (Intel VMD's 10000:) is a pciDDDDD:BB
    // directory under the device that creates it.
    const rootBus = `pci${address.slice(0, address.indexOf(':') + 3)}`;
    const domainOf = (a: string) => a.slice(0, a.indexOf(':'));
    const dir = !d.parent
      ? this.p('sys/devices', rootBus, address)
      : domainOf(d.parent) === domainOf(address)
        ? join(this.deviceDir(d.parent), address)
        : join(this.deviceDir(d.parent), rootBus, address);
    this.dirs.set(address, dir);
    return dir;
  }

  forgetSlots(): void {
    this.slots.clear();
  }

  slotSize(address: string): number {
    if (this.slots.size === 0) {
      for (const x of this.spec.devices) {
        const slot = x.address.slice(0, x.address.lastIndexOf('.'));
        this.slots.set(slot, (this.slots.get(slot) ?? 0) + 1);
      }
    }
    return this.slots.get(address.slice(0, address.lastIndexOf('.'))) ?? 0;
  }

  addDevice(d: DeviceSpec): void {
    const dir = this.deviceDir(d.address);
    const multifunction = this.slotSize(d.address) > 1;
    mkdirSync(dir, { recursive: true });
    write(join(dir, 'vendor'), hex(d.vendor, 4));
    write(join(dir, 'device'), hex(d.device, 4));
    write(join(dir, 'subsystem_vendor'), hex(d.subsystemVendor ?? d.vendor, 4));
    write(join(dir, 'subsystem_device'), hex(d.subsystemDevice ?? 0, 4));
    write(join(dir, 'class'), hex(d.classCode, 6));
    write(join(dir, 'revision'), '0x00\n');
    write(join(dir, 'config'), configSpace(d, multifunction));
    write(join(dir, 'driver_override'), `${d.override ?? '(null)'}\n`);
    write(join(dir, 'enable'), d.driver && d.driver !== 'vfio-pci' ? '1\n' : '0\n');
    write(join(dir, 'irq'), '0\n');
    write(join(dir, 'modalias'), `pci:v0000${d.vendor.toString(16).toUpperCase().padStart(4, '0')}d0000${d.device.toString(16).toUpperCase().padStart(4, '0')}\n`);
    for (const attr of ['remove', 'rescan', 'uevent']) write(join(dir, attr), '');
    const resetMethods = resetMethodsOf(d);
    if (resetMethods !== null) {
      write(join(dir, 'reset'), '');
      write(join(dir, 'reset_method'), `${resetMethods.join(' ')}\n`);
    }
    write(join(dir, 'resource'), resourceFile(d.bars ?? []));
    for (const node of d.drm ?? []) mkdirSync(join(dir, 'drm', node), { recursive: true });
    if (d.nvidiaMinor !== undefined) {
      write(this.p('proc/driver/nvidia/gpus', d.address, 'information'), `Model: \t\t NVIDIA GPU\nIRQ:   \t\t 16\nBus Location: \t ${d.address.slice(5)}\nDevice Minor: \t ${d.nvidiaMinor}\n`);
    }
    if (d.classCode >> 8 === 0x0300) write(join(dir, 'boot_vga'), d.bootVga ? '1\n' : '0\n');
    if (d.sriov) {
      write(join(dir, 'sriov_totalvfs'), `${d.sriov.totalVfs}\n`);
      write(join(dir, 'sriov_numvfs'), `${d.sriov.numVfs}\n`);
      write(join(dir, 'sriov_drivers_autoprobe'), '1\n');
    }
    if (d.physfn) {
      const pf = this.deviceDir(d.physfn);
      link(pf, join(dir, 'physfn'));
      const index = this.vfCounts.get(d.physfn) ?? 0;
      this.vfCounts.set(d.physfn, index + 1);
      link(dir, join(pf, `virtfn${index}`));
    }
    link(this.p('sys/bus/pci'), join(dir, 'subsystem'));
    link(dir, this.p('sys/bus/pci/devices', d.address));
    if (d.group !== undefined && d.group !== null && this.spec.iommu) this.joinGroup(d.address, d.group, dir);
    if (d.driver) {
      link(this.p('sys/bus/pci/drivers', d.driver), join(dir, 'driver'));
      link(dir, this.p('sys/bus/pci/drivers', d.driver, d.address));
      if (this.spec.drivers[d.driver]?.vfio && d.group != null) write(this.p('dev/vfio', String(d.group)), '');
    }
    for (const net of d.net ?? []) {
      const netDir = join(dir, 'net', net.name);
      write(join(netDir, 'operstate'), net.up ? 'up\n' : 'down\n');
      write(join(netDir, 'flags'), net.up ? '0x1003\n' : '0x1002\n');
      if (net.mac) write(join(netDir, 'address'), `${net.mac}\n`);
      link(netDir, this.p('sys/class/net', net.name));
      if (net.master) {
        const masterDir = this.p('sys/devices/virtual/net', net.master);
        write(join(masterDir, 'operstate'), 'up\n');
        write(join(masterDir, 'flags'), '0x1003\n');
        link(masterDir, this.p('sys/class/net', net.master));
        link(masterDir, join(netDir, 'master'));
      }
    }
  }

  joinGroup(address: string, group: number, dir: string): void {
    const groupDir = this.p('sys/kernel/iommu_groups', String(group));
    mkdirSync(join(groupDir, 'devices'), { recursive: true });
    write(join(groupDir, 'type'), `${this.spec.groupType}\n`);
    write(join(groupDir, 'reserved_regions'), '0x00000000fee00000 0x00000000feefffff msi\n');
    link(dir, join(groupDir, 'devices', address));
    link(groupDir, join(dir, 'iommu_group'));
    const unit = this.spec.cpu === 'intel' ? this.p('sys/devices/virtual/iommu/dmar0') : this.amdIommuDir();
    if (unit) link(unit, join(dir, 'iommu'));
  }

  amdIommuDir(): string | null {
    const unit = this.spec.devices.find((d) => d.classCode === 0x080600);
    return unit ? join(this.deviceDir(unit.address), 'iommu/ivhd0') : null;
  }

  build(): void {
    const { spec } = this;
    for (const dir of ['sys/bus/pci/devices', 'sys/bus/pci/drivers', 'sys/kernel/iommu_groups', 'sys/class/iommu', 'sys/class/net', 'sys/block', 'sys/firmware/acpi/tables', 'proc/self', 'proc/net', 'proc/sys/kernel', 'dev/vfio', 'etc/modprobe.d', 'etc/modules-load.d']) {
      mkdirSync(this.p(dir), { recursive: true });
    }
    write(this.p('sys/bus/pci/drivers_probe'), '');
    write(this.p('sys/bus/pci/rescan'), '');
    write(this.p('dev/vfio/vfio'), ''); // a static node: present whatever the IOMMU state
    for (const [name, driver] of Object.entries(spec.drivers)) {
      if (!driver.loaded) continue;
      const dir = this.p('sys/bus/pci/drivers', name);
      mkdirSync(dir, { recursive: true });
      for (const file of ['bind', 'unbind', 'new_id', 'remove_id', 'uevent']) write(join(dir, file), '');
    }
    if (spec.iommu) {
      if (spec.cpu === 'intel') {
        mkdirSync(this.p('sys/devices/virtual/iommu/dmar0'), { recursive: true });
        link(this.p('sys/devices/virtual/iommu/dmar0'), this.p('sys/class/iommu/dmar0'));
      }
    }
    for (const d of spec.devices) this.addDevice(d);
    const amdUnit = spec.iommu && spec.cpu === 'amd' ? this.amdIommuDir() : null;
    if (amdUnit) {
      mkdirSync(amdUnit, { recursive: true });
      link(amdUnit, this.p('sys/class/iommu/ivhd0'));
    }
    this.buildBlock();
    this.buildProc();
    this.buildEtc();
    this.saveKernelJson();
  }

  buildBlock(): void {
    const { spec } = this;
    const diskDirs = new Map<string, string>();
    for (const b of spec.block) {
      let diskDir: string;
      if (b.kind === 'ata') {
        diskDir = join(this.deviceDir(b.controller!), 'ata1/host0/target0:0:0/0:0:0:0/block', b.name);
      } else if (b.kind === 'nvme-multipath') {
        // Native NVMe multipath: the disk hangs off the subsystem; the controller is reached through its nvmeX link.
        const ctrl = b.name.replace(/n\d+$/, '');
        const ctrlDir = join(this.deviceDir(b.controller!), 'nvme', ctrl);
        mkdirSync(ctrlDir, { recursive: true });
        link(this.deviceDir(b.controller!), join(ctrlDir, 'device'));
        link(ctrlDir, this.p('sys/class/nvme', ctrl));
        const subsys = this.p('sys/devices/virtual/nvme-subsystem', `nvme-subsys${ctrl.slice(4)}`);
        link(ctrlDir, join(subsys, ctrl));
        diskDir = join(subsys, b.name);
      } else if (b.kind === 'nvme') {
        // No multipath: the disk hangs off its controller, under the PCI device.
        const ctrl = b.name.replace(/n\d+$/, '');
        diskDir = join(this.deviceDir(b.controller!), 'nvme', ctrl, b.name);
      } else {
        diskDir = this.p('sys/devices/virtual/block', b.name);
        if (b.kind === 'dm') write(join(diskDir, 'dm/name'), `${b.dmName}\n`);
        if (b.kind === 'md') write(join(diskDir, 'md/level'), 'raid1\n');
        if (b.kind === 'bcache') write(join(diskDir, 'bcache/state'), 'clean\n');
        if (b.kind === 'loop') write(join(diskDir, 'loop/backing_file'), `${b.backingFile ?? ''}\n`);
      }
      write(join(diskDir, 'dev'), `${b.major}:${b.minor}\n`);
      write(join(diskDir, 'size'), '1000215216\n');
      diskDirs.set(b.name, diskDir);
      for (const n of b.partitions ?? []) {
        const part = b.name.match(/\d$/) ? `${b.name}p${n}` : `${b.name}${n}`;
        write(join(diskDir, part, 'dev'), `${b.major}:${b.minor + n}\n`);
        write(join(diskDir, part, 'partition'), `${n}\n`);
        diskDirs.set(part, join(diskDir, part));
      }
      link(diskDir, this.p('sys/block', b.name));
    }
    for (const b of spec.block) {
      for (const slave of b.slaves ?? []) {
        const slaveDir = diskDirs.get(slave);
        if (!slaveDir) throw new Error(`fake tree: dm ${b.name} names unknown slave ${slave}`);
        link(slaveDir, join(diskDirs.get(b.name)!, 'slaves', slave));
        link(diskDirs.get(b.name)!, join(slaveDir, 'holders', b.name));
      }
    }
    for (const fs of spec.multiDeviceFs ?? []) {
      const fsDir = this.p('sys/fs', fs.type, fs.uuid);
      if (fs.label !== undefined) write(join(fsDir, fs.type === 'btrfs' ? 'label' : 'options/label'), `${fs.label}\n`);
      fs.devices.forEach((name, i) => {
        const devDir = diskDirs.get(name);
        if (!devDir) throw new Error(`fake tree: ${fs.type} ${fs.uuid} names unknown device ${name}`);
        // btrfs: devices/<name> → the block device; bcachefs: dev-<idx>/block → the block device.
        link(devDir, fs.type === 'btrfs' ? join(fsDir, 'devices', name) : join(fsDir, `dev-${i}`, 'block'));
      });
    }
    for (const pool of spec.zfsImported ?? []) write(this.p('proc/spl/kstat/zfs', pool, 'state'), 'ONLINE\n');
    for (const [name, pool] of Object.entries(spec.zfsMembers ?? {})) {
      const dev = `${diskDirs.get(name) ?? ''}/dev`;
      const majmin = readFileSync(dev, 'utf8').trim();
      write(this.p('run/udev/data', `b${majmin}`), `E:ID_FS_TYPE=zfs_member\nE:ID_FS_LABEL=${pool}\nE:ID_FS_USAGE=filesystem\n`);
    }
  }

  majmin(name: string): string {
    for (const b of this.spec.block) {
      if (b.name === name) return `${b.major}:${b.minor}`;
      for (const n of b.partitions ?? []) {
        const part = b.name.match(/\d$/) ? `${b.name}p${n}` : `${b.name}${n}`;
        if (part === name) return `${b.major}:${b.minor + n}`;
      }
    }
    return '0:0';
  }

  blockNameOfSource(source: string): string | null {
    if (source.startsWith('/dev/mapper/')) return this.spec.block.find((b) => b.dmName === source.slice(12))?.name ?? null;
    return source.startsWith('/dev/') ? source.slice(5) : null;
  }

  buildProc(): void {
    const { spec } = this;
    const cpuFlags = ['fpu', 'vme', 'de', 'pse', 'tsc', 'msr', 'pae', 'mce', 'cx8', 'apic', 'sse', 'sse2', 'ht', spec.cpu === 'intel' ? 'vmx' : 'svm', 'x2apic', 'aes'];
    const processor = (n: number) =>
      [`processor\t: ${n}`, `vendor_id\t: ${spec.cpu === 'intel' ? 'GenuineIntel' : 'AuthenticAMD'}`, 'cpu family\t: 6', `model name\t: ${spec.cpu === 'intel' ? 'Intel(R) Core(TM) i7-9700 CPU @ 3.00GHz' : 'AMD Ryzen 9 3900X 12-Core Processor'}`, `flags\t\t: ${cpuFlags.join(' ')}`, ''].join('\n');
    write(this.p('proc/cpuinfo'), `${processor(0)}\n${processor(1)}\n`);
    if (spec.iommu) {
      const table = spec.cpu === 'intel' ? 'DMAR' : 'IVRS';
      const header = Buffer.alloc(48);
      header.write(table, 0, 'latin1');
      header.writeUInt32LE(48, 4);
      write(this.p('sys/firmware/acpi/tables', table), header);
    }
    const ir = spec.interruptRemapping ? 'IR-' : '';
    write(
      this.p('proc/interrupts'),
      [
        '           CPU0       CPU1       ',
        `  0:         44          0   ${ir}IO-APIC    2-edge      timer`,
        `  9:          0          0   ${ir}IO-APIC    9-fasteoi   acpi`,
        ...spec.devices
          .filter((d) => d.driver && d.driver !== 'pcieport' && d.driver !== 'vfio-pci')
          .map((d, i) => `${String(120 + i).padStart(3)}:       1024          0   ${ir}PCI-MSI-${d.address}    0-edge      ${d.driver}`),
        'NMI:          0          0   Non-maskable interrupts',
        '',
      ].join('\n'),
    );
    write(this.p('proc/cmdline'), `${spec.cmdline}\n`);
    write(this.p('proc/iomem'), this.iomem());
    if (spec.vendorReset) mkdirSync(this.p('sys/module/vendor_reset'), { recursive: true });
    for (const proc of spec.processes ?? []) addFakeProcess(this.root, proc);
    write(this.p('proc/sys/kernel/osrelease'), `${spec.kernelRelease}\n`);
    const loaded = Object.entries(spec.drivers)
      .filter(([, d]) => d.loaded && !d.builtin)
      .flatMap(([name, d]) => [...(d.deps ?? []), d.module ?? name]);
    write(this.p('proc/modules'), [...new Set(loaded)].map((m) => `${m.replace(/-/g, '_')} 16384 0 - Live 0x0000000000000000\n`).join(''));
    const builtin = Object.entries(spec.drivers)
      .filter(([, d]) => d.builtin)
      .map(([name, d]) => `kernel/drivers/pci/${(d.module ?? name).replace(/-/g, '_')}.ko\n`);
    write(this.p('lib/modules', spec.kernelRelease, 'modules.builtin'), builtin.join(''));
    // Installed (loadable or loaded) modules, as depmod lists them; a module missing here cannot be loaded.
    const installed = Object.entries(spec.drivers)
      .filter(([, d]) => !d.builtin && (d.loaded || d.loadable))
      .map(([name, d]) => `kernel/drivers/${(d.module ?? name).replace(/_/g, '-')}.ko:${(d.deps ?? []).map((dep) => ` kernel/drivers/${dep.replace(/_/g, '-')}.ko`).join('')}\n`);
    write(this.p('lib/modules', spec.kernelRelease, 'modules.dep'), installed.join(''));
    write(
      this.p('boot', `config-${spec.kernelRelease}`),
      ['CONFIG_IOMMU_SUPPORT=y', 'CONFIG_INTEL_IOMMU=y', 'CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF=y', 'CONFIG_AMD_IOMMU=y', 'CONFIG_IRQ_REMAP=y', 'CONFIG_VFIO=m', 'CONFIG_VFIO_PCI=m', 'CONFIG_VFIO_IOMMU_TYPE1=m', 'CONFIG_NVME_MULTIPATH=y', ''].join('\n'),
    );
    if (spec.allowUnsafeInterrupts !== undefined) {
      write(this.p('sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts'), spec.allowUnsafeInterrupts ? 'Y\n' : 'N\n');
    }

    const mountLines = [
      '22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw',
      '23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
      '25 28 0:24 / /run rw,nosuid,nodev,noexec,relatime shared:2 - tmpfs tmpfs rw,size=1630000k,mode=755',
    ];
    spec.mounts.forEach((m, i) => {
      const name = this.blockNameOfSource(m.source);
      // ZFS datasets and btrfs subvolumes have anonymous device numbers (0:N), not the disk's.
      const majmin = m.fstype === 'zfs' ? '0:26' : m.fstype === 'btrfs' ? `0:${40 + i}` : name ? this.majmin(name) : '0:0';
      const mountpoint = m.mountpoint.replace(/ /g, '\\040');
      mountLines.push(`${28 + i} 1 ${majmin} / ${mountpoint} rw,relatime shared:${i + 1} - ${m.fstype} ${m.source} rw`);
    });
    write(this.p('proc/self/mountinfo'), mountLines.join('\n') + '\n');
    write(
      this.p('proc/swaps'),
      ['Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority', ...spec.swaps.map((s) => `${s.padEnd(40)}partition\t8388604\t\t0\t\t-2`), ''].join('\n'),
    );
    write(
      this.p('proc/net/route'),
      [
        'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
        ...spec.routes.map((r) => `${r.iface}\t${routeHex(r.destination)}\t${routeHex(r.gateway)}\t0003\t0\t0\t100\t${routeHex(r.mask)}\t0\t0\t0`),
        '',
      ].join('\n'),
    );
    const zero = '0'.repeat(32);
    write(
      this.p('proc/net/ipv6_route'),
      [...spec.routes6.map((iface) => `${zero} 00 ${zero} 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 ${iface.padStart(8)}`), `${zero} 00 ${zero} 00 ${zero} ffffffff 00000001 00000000 00200200       lo`, ''].join('\n'),
    );
    mkdirSync(this.p('sys/devices/virtual/net/lo'), { recursive: true });
    write(this.p('sys/devices/virtual/net/lo/operstate'), 'unknown\n');
    write(this.p('sys/devices/virtual/net/lo/flags'), '0x9\n');
    link(this.p('sys/devices/virtual/net/lo'), this.p('sys/class/net/lo'));
  }

  /** /proc/iomem as root reads it: RAM, each device BAR, the firmware framebuffer nested in its BAR. */
  iomem(): string {
    const range = (start: number, end: number) => `${start.toString(16).padStart(8, '0')}-${end.toString(16).padStart(8, '0')}`;
    const fb = this.spec.framebuffer;
    const lines = ['00000000-00000fff : Reserved', '00001000-0009ffff : System RAM', '00100000-7fffffff : System RAM'];
    let placed = false;
    const bars = this.spec.devices.flatMap((d) => (d.bars ?? []).map((b) => ({ ...b, address: d.address }))).sort((a, b) => a.start - b.start);
    for (const b of bars) {
      lines.push(`  ${range(b.start, b.end)} : ${b.address}`);
      if (fb && !placed && fb.start >= b.start && fb.end <= b.end) {
        lines.push(`    ${range(fb.start, fb.end)} : ${fb.name}`);
        placed = true;
      }
    }
    if (fb && !placed) lines.push(`${range(fb.start, fb.end)} : ${fb.name}`);
    return lines.join('\n') + '\n';
  }

  buildEtc(): void {
    const { spec } = this;
    if (spec.bootloader === 'grub') {
      const linux = spec.cmdline.replace(/^BOOT_IMAGE=\S+ root=\S+ ro ?/, '');
      write(this.p('etc/default/grub'), `GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT="${linux}"\nGRUB_CMDLINE_LINUX=""\n`);
    } else {
      write(this.p('etc/kernel/cmdline'), `${spec.cmdline}\n`);
      write(this.p('etc/kernel/proxmox-boot-uuids'), '6B2C-1A0F\n');
    }
    write(this.p('etc/modules'), spec.etcModules ?? '# /etc/modules: kernel modules to load at boot time.\n');
    for (const [name, text] of Object.entries(spec.modulesLoadD ?? {})) write(this.p('etc/modules-load.d', name), text);
    for (const [name, text] of Object.entries(spec.modprobeD ?? {})) write(this.p('etc/modprobe.d', name), text);
    if (spec.pciIds !== null) write(this.p('usr/share/misc/pci.ids'), spec.pciIds);
    for (const [path, text] of Object.entries(spec.etcFiles ?? {})) write(this.p('etc', path), text);
  }

  saveKernelJson(): void {
    const json: KernelJson = {
      iommu: this.spec.iommu,
      drivers: this.spec.drivers,
      hangUnbind: this.spec.hangUnbind ?? [],
      failUnbind: this.spec.failUnbind ?? {},
      failProbe: {},
      resetSupported: Object.fromEntries(
        this.spec.devices.flatMap((d) => {
          const methods = resetMethodsOf(d);
          return methods === null ? [] : [[d.address, [...methods, ...(d.extraResetMethods ?? [])]]];
        }),
      ),
      resetDefault: Object.fromEntries(
        this.spec.devices.flatMap((d) => {
          const methods = resetMethodsOf(d);
          return methods === null ? [] : [[d.address, methods]];
        }),
      ),
    };
    mkdirSync(this.p('.fake-kernel'), { recursive: true });
    kernel.saveKernel(this.root, json);
  }
}

/** Builds `spec` in `dir` (created if missing) and returns handles to change it like the kernel would. */
export async function buildHost(dir: string, spec: HostSpec): Promise<FakeHost> {
  const root = resolve(dir);
  const specCopy = structuredClone(spec);
  const builder = new Builder(root, specCopy);
  builder.build();
  const env: Record<string, string> = {
    FAKE_KERNEL_TREE: root,
    // src/sysfs/writer.ts runs no modprobe under --root except this one, which loads into the tree.
    PCIE_PASSTHROUGHD_ROOT_MODPROBE: join(FAKE_BIN, 'modprobe'),
    PATH: `${FAKE_BIN}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${SHIM_PATH}`.trim(),
  };
  return {
    root,
    spec: specCopy,
    env,
    deviceDir: (address) => builder.deviceDir(address),
    addDevice(device) {
      builder.forgetSlots();
      specCopy.devices.push(structuredClone(device));
      builder.addDevice(specCopy.devices[specCopy.devices.length - 1]!);
    },
    removeDevice(address) {
      const dir = kernel.deviceDir(root, address);
      if (dir === null) throw new Error(`fake tree: no device ${address} to remove`);
      kernel.detach(root, kernel.readKernel(root), dir);
      const groups = join(root, 'sys/kernel/iommu_groups');
      for (const group of readdirSync(groups)) {
        rmSync(join(groups, group, 'devices', address), { force: true });
        if (readdirSync(join(groups, group, 'devices')).length === 0) rmSync(join(groups, group), { recursive: true });
      }
      rmSync(join(root, 'sys/bus/pci/devices', address), { force: true });
      rmSync(dir, { recursive: true, force: true });
      specCopy.devices = specCopy.devices.filter((d) => d.address !== address);
    },
    kernel: () => kernel.readKernel(root),
    updateKernel(change) {
      const json = kernel.readKernel(root);
      change(json);
      kernel.saveKernel(root, json);
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/**
 * Points this process's environment at the host (fake modprobe first on PATH, FAKE_KERNEL_TREE, the
 * shim for child processes) and loads the shim in-process. Returns a function that restores the env.
 */
export function useHost(host: FakeHost): () => void {
  loadShim();
  const saved = Object.fromEntries(Object.keys(host.env).map((key) => [key, process.env[key]]));
  Object.assign(process.env, host.env);
  return () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}

/** A fresh temp dir for one tree (on tmpfs when there is one: trees are thousands of small files); remove it with `host.cleanup()`. */
export function tempTreeDir(prefix = 'fake-host-'): string {
  try {
    return mkdtempSync(join('/dev/shm', prefix));
  } catch {
    return mkdtempSync(join(tmpdir(), prefix));
  }
}
