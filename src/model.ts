/**
 * Plain data shared by every layer: what is observed (Snapshot), what is configured (Config),
 * what the IOMMU checks conclude (IommuReport) and what the planner decides (Plan).
 * No I/O here and no behaviour beyond tiny pure helpers.
 */
import type { GuestInventory } from './guests/types.js';

/** Canonical PCI address, always with domain, lower-case hex: "0000:01:00.0". */
export type Address = string;

// ───────────────────────────── observed ─────────────────────────────

/** Why the host itself uses a device (DESIGN.md safety rules). */
export interface InUse {
  /**
   * mount/swap: backs a mounted filesystem or active swap; holder: held by a stacked block device
   * (dm, md, bcache, loop) or a member of an imported ZFS pool; filesystem: a device of a mounted
   * multi-device filesystem (btrfs, bcachefs); netdev: interface up or routed; netconfig: the host's
   * persistent network configuration uses the interface; console: boot VGA.
   */
  kind: 'mount' | 'swap' | 'holder' | 'filesystem' | 'netdev' | 'netconfig' | 'console';
  /** Human detail, e.g. "nvme0n1p2 mounted on /", "eno1 is up (192.168.1.10/24)". */
  detail: string;
}

/**
 * What the kernel says about a device's health before a VM gets it (src/health/ judges it).
 * Documentation/ABI/testing/sysfs-bus-pci: `reset` exists only for a function the kernel can reset;
 * `reset_method` (Linux 5.15+) lists the enabled methods in order, space-separated.
 */
export interface DeviceHealthFacts {
  /** The `reset` attribute exists: the kernel knows at least one way to reset this function. */
  resettable: boolean;
  /** `reset_method`, split on spaces (empty: resets disabled by a write of ""); null when the attribute is absent. */
  resetMethods: string[] | null;
  /** The readable part of config space is all 0xff (lspci: "Unknown header type 7f"): the device does not answer. */
  configAllOnes: boolean;
  /** Memory BARs from `resource` (start/end inclusive); read for display-class devices only, empty otherwise. */
  memoryBars: { bar: number; start: number; end: number }[];
}

export interface PciDevice {
  address: Address;
  vendorId: number;
  deviceId: number;
  subsystemVendorId: number;
  subsystemDeviceId: number;
  /** 24-bit class code (class << 16 | subclass << 8 | prog-if), from sysfs `class`. */
  classCode: number;
  /** Config space header type with the multifunction bit (0x80) removed: 0 endpoint, 1 bridge, 2 CardBus. */
  headerType: number;
  /** Name of the bound driver (basename of the `driver` link), null when unbound. */
  driver: string | null;
  /** Content of `driver_override`; null when the kernel reads "(null)" (unset). */
  driverOverride: string | null;
  /** Number of the IOMMU group (basename of `iommu_group` link), null when the device has none. */
  iommuGroup: number | null;
  /** `boot_vga` reads 1 (the firmware console GPU). */
  bootVga: boolean;
  /** `sriov_numvfs` of a physical function; null when the device is not SR-IOV capable. */
  sriovNumVfs: number | null;
  /** Address of the physical function when this is a virtual function (`physfn` link). */
  physfn: Address | null;
  /**
   * A vfio-pci device reads `enable` = 1 while a user (a VM) has it open; vfio-pci leaves it 0 otherwise.
   * Only read for devices on vfio-pci (false for the rest).
   */
  openByVm: boolean;
  /** Other functions of the same slot (same domain:bus:device), sorted. */
  slotSiblings: Address[];
  /** Facts that make the device the host's own (mounted disk, netdev that is up, console). */
  inUse: InUse[];
  /** From pci.ids; null when the database or the entry is absent. */
  vendorName: string | null;
  deviceName: string | null;
  health: DeviceHealthFacts;
}

/** A firmware boot framebuffer found in /proc/iomem (BOOTFB, efifb, vesafb, simpledrm, simple-framebuffer). */
export interface FirmwareFramebuffer {
  name: string;
  start: number;
  end: number;
}

/** Host-wide facts the per-device health checks need (src/health/read.ts). */
export interface HostHealthFacts {
  /** Framebuffers from /proc/iomem; null when unreadable or when the kernel hides addresses (not root). */
  framebuffers: FirmwareFramebuffer[] | null;
  /** The vendor-reset module is loaded (/sys/module/vendor_reset). */
  vendorResetLoaded: boolean;
}

export interface IommuGroup {
  id: number;
  /** Members (addresses), sorted. */
  devices: Address[];
  /** `/sys/kernel/iommu_groups/N/type`: "DMA", "DMA-FQ", "identity", … or null. */
  type: string | null;
  /** `/sys/kernel/iommu_groups/N/name` when present ("vfio-noiommu" marks an unsafe fake group). */
  name: string | null;
}

export type ModuleState = 'loaded' | 'builtin' | 'absent';

/** One `options vfio-pci ids=…` line found in /etc/modprobe.d. */
export interface ModprobeIdsLine {
  file: string;
  line: number;
  /** Raw entries as written, split on commas, e.g. "10de:1b80", "8086:1533:ffffffff:ffffffff". */
  ids: string[];
}

export interface FileLine {
  file: string;
  line: number;
  text: string;
}

/** Raw IOMMU-related facts, read from files; the checks over them are pure (src/iommu/checks.ts). */
export interface IommuFacts {
  /** Vendor from /proc/cpuinfo `vendor_id`: GenuineIntel → intel, AuthenticAMD → amd. */
  cpuVendor: 'intel' | 'amd' | 'other' | null;
  /** `flags` of the first processor in /proc/cpuinfo (x86), empty when unknown. */
  cpuFlags: string[];
  /** Which of DMAR, IVRS, IORT exist under /sys/firmware/acpi/tables. */
  acpiTables: string[];
  /** Entries of /sys/class/iommu with their kind (dmarN → intel, ivhdN → amd). */
  iommuUnits: { name: string; kind: 'intel' | 'amd' | 'other' }[];
  /** /sys/module/vfio/parameters/enable_unsafe_noiommu_mode = Y; null when the file is absent. */
  unsafeNoIommuMode: boolean | null;
  /** Evidence of interrupt remapping: "IR-" chips in /proc/interrupts. */
  interruptRemapping: 'enabled' | 'not-seen' | 'unknown';
  /** /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts; null when absent. */
  allowUnsafeInterrupts: boolean | null;
  /** /sys/bus/pci/drivers/vfio-pci exists. */
  vfioPciRegistered: boolean;
  /** /dev/vfio/vfio exists (a static node: weak evidence alone). */
  devVfio: boolean;
  modules: { vfio: ModuleState; vfio_iommu_type1: ModuleState; vfio_pci: ModuleState };
  /** /proc/sys/kernel/osrelease. */
  kernelRelease: string | null;
  /** /proc/cmdline. */
  cmdline: string;
  /** Selected CONFIG_* values from /boot/config-<release> (e.g. CONFIG_INTEL_IOMMU_DEFAULT_ON=y); null when absent. */
  kernelConfig: Record<string, string> | null;
  /** `vfio_virqfd` lines in /etc/modules and /etc/modules-load.d/*.conf. */
  staleVirqfd: FileLine[];
  /** `options vfio-pci ids=` / `options vfio_pci ids=` lines in /etc/modprobe.d/*.conf. */
  modprobeIds: ModprobeIdsLine[];
  /** Where the kernel command line comes from. */
  bootloader: 'proxmox-boot-tool' | 'systemd-boot' | 'grub' | 'unknown';
  /** /etc/kernel/cmdline exists (with proxmox-boot-tool: systemd-boot ESPs read it; GRUB ESPs use /etc/default/grub). */
  kernelCmdlineFile: boolean;
  /** /sys/firmware/efi exists (booted through UEFI); proxmox-boot-tool always uses GRUB on legacy BIOS. Absent: unknown. */
  efiBoot?: boolean;
}

export interface Snapshot {
  /** Every PCI device, sorted by address. */
  devices: PciDevice[];
  /** Every IOMMU group, sorted by id (empty when DMA remapping is off). */
  groups: IommuGroup[];
  /** Registered PCI drivers (entries of /sys/bus/pci/drivers). */
  drivers: string[];
  iommu: IommuFacts;
  hostHealth: HostHealthFacts;
  /** Guests of Proxmox VE / libvirt and the host devices they use (src/guests); absent when not read. */
  guests?: GuestInventory;
  /**
   * Devices whose device-lock attributes (driver_override, sriov_numvfs) could not be read because the
   * kernel holds their lock (an unbind of theirs hangs): address → why. Their values are the last known.
   */
  unreadable?: Record<Address, string>;
}

// ───────────────────────────── configured ─────────────────────────────

export interface SourcePos {
  file: string;
  line: number;
  column: number;
}

export interface IdMatch {
  vendor: number;
  device: number;
}

/** Matches PCI_ANY_ID (0xffffffff) in modprobe `ids=` and stands for "any" here. */
export const ANY_ID = 0xffffffff;

export interface DeviceEntry {
  address: Address | null;
  id: IdMatch | null;
  /** Subsystem vendor:device; either half may be ANY_ID. */
  subsystem: IdMatch | null;
  /** From modprobe `ids=` class:class_mask; null when not given. */
  classMatch: { classCode: number; mask: number } | null;
  /** "all": every function of the slot of each matched device. */
  functions: 'one' | 'all';
  /** Target driver of this entry; null means the daemon default. */
  driver: string | null;
  allowInUse: boolean;
  /**
   * Reset methods to write to the device's reset_method before it is bound (and kept so), in order;
   * [] disables resets. Absent: the kernel's own choice is left alone.
   */
  resetMethod?: string[];
  /** Where the entry was written (a [[device]] table or a modprobe.d line). */
  source: SourcePos;
  /** Came from `options vfio-pci ids=` (import_modprobe), not from config.toml. */
  imported: boolean;
  /** Came from a guest's configuration (follow_guests): who asks, e.g. "VM 100 (win11) (hostpci0)". */
  guest?: string;
}

/** Which guests' devices the daemon takes on (`[daemon] follow_guests`). */
export type FollowGuests = 'none' | 'onboot' | 'all';

export interface DaemonSettings {
  driver: string;
  requireIommu: boolean;
  checkSchedule: string;
  onRemove: 'release' | 'keep';
  importModprobe: boolean;
  /** node_exporter textfile written after every reconcile, when its directory exists; "" for none. */
  metricsTextfile: string;
  /** Absent means "none" (the default). */
  followGuests?: FollowGuests;
}

export interface Config {
  /** File it was read from (it may not exist: then no devices). */
  path: string;
  daemon: DaemonSettings;
  devices: DeviceEntry[];
}

export const DEFAULT_DAEMON_SETTINGS: DaemonSettings = {
  driver: 'vfio-pci',
  requireIommu: true,
  checkSchedule: '*/5 * * * *',
  onRemove: 'release',
  importModprobe: true,
  metricsTextfile: '/var/lib/prometheus/node-exporter/pcie-passthroughd.prom',
  followGuests: 'none',
};

// ───────────────────────────── concluded ─────────────────────────────

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: CheckStatus;
  message: string;
}

export interface IommuReport {
  /** DMA remapping is really on (groups exist and they are not no-IOMMU fakes). */
  enabled: boolean;
  kind: 'intel-vt-d' | 'amd-vi' | 'other' | 'none';
  groupCount: number;
  interruptRemapping: 'enabled' | 'not-seen' | 'unknown' | 'unsafe-allowed';
  checks: Check[];
}

/** `dead`: config space reads all ones (the device stopped answering); nothing is planned for it. */
export type DeviceState = 'bound' | 'pending' | 'blocked' | 'failed' | 'missing' | 'host' | 'dead';

/** States that need the admin (journal warning, counted in the status line). A Record: adding a state fails to compile until it is placed here. */
const PROBLEM_STATE: Record<DeviceState, boolean> = {
  bound: false, pending: false, blocked: true, failed: true, missing: true, host: false, dead: true,
};

/** Every state, in this order (derived from the exhaustive table above). */
export const DEVICE_STATES = Object.keys(PROBLEM_STATE) as readonly DeviceState[];

export function isProblemState(state: DeviceState): boolean {
  return PROBLEM_STATE[state];
}

export interface Verdict {
  address: Address;
  state: DeviceState;
  /** One sentence; empty only for plain `host` devices nobody asked for. */
  reason: string;
  managed: boolean;
  /** Driver the config wants; null for unmanaged devices. */
  targetDriver: string | null;
  /** Whether the IOMMU group could be given to a VM now; null when no group. */
  groupViable: boolean | null;
  /** Endpoints of the same group still on host drivers (what makes the group not viable). */
  groupBlockers: Address[];
  imported: boolean;
}

export type Action =
  | { kind: 'load-driver'; driver: string }
  /** Device is already on the driver; only `driver_override` needs writing. */
  | { kind: 'set-override'; address: Address; driver: string }
  | { kind: 'bind'; address: Address; driver: string; from: string | null }
  | { kind: 'release'; address: Address; from: string }
  /** Writes the configured methods to reset_method; planned before the bind, so it holds before any use. */
  | { kind: 'set-reset-method'; address: Address; methods: string[] };

export interface Plan {
  actions: Action[];
  /** One verdict per PCI device present, plus `missing` entries for configured addresses absent. */
  verdicts: Verdict[];
  /** Config entries that match no present device (said, not an error). */
  unmatched: string[];
}

/** What this tool bound, so `on_remove = "release"` only gives back what we took (state file). */
export interface OwnedState {
  devices: Record<Address, { driver: string; previousDriver: string | null; since: string }>;
}

// ───────────────────────────── tiny helpers ─────────────────────────────

export function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

export function formatId(vendor: number, device: number): string {
  return `${hex4(vendor)}:${hex4(device)}`;
}

/** sysfs prints "%04x:%02x:%02x.%d": the domain has at least 4 digits (Intel VMD's child domains are 10000+). */
const PCI_ADDRESS = /^[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;

export function isPciAddress(text: string): boolean {
  return PCI_ADDRESS.test(text);
}

/** Orders addresses as lspci does: by domain number (so ffff: comes before 10000:), then bus, device, function. */
export function compareAddresses(a: Address, b: Address): number {
  const domain = (x: Address) => parseInt(x.slice(0, x.indexOf(':')), 16);
  const rest = (x: Address) => x.slice(x.indexOf(':'));
  return domain(a) - domain(b) || (rest(a) < rest(b) ? -1 : rest(a) > rest(b) ? 1 : 0);
}

/** "0000:01:00.0" → "0000:01:00" (the slot all functions share). */
export function slotOf(address: Address): string {
  return address.slice(0, address.lastIndexOf('.'));
}

/**
 * A PCI-to-PCI or CardBus bridge (header type 1 or 2): vfio_pci_probe refuses every non-normal header
 * (EINVAL), and such bridges do not keep their IOMMU group from being given to a VM. Host and ISA/LPC
 * bridges (class 0x0600/0x0601) have a normal header: they are endpoints to the kernel.
 */
export function isBridge(d: Pick<PciDevice, 'headerType' | 'classCode'>): boolean {
  return d.headerType === 1 || d.headerType === 2;
}

/** Host bridge (0x0600) or ISA/LPC bridge (0x0601): a normal header, but the platform's own. */
export function isPlatformBridge(d: Pick<PciDevice, 'headerType' | 'classCode'>): boolean {
  const subclass = d.classCode >> 8;
  return !isBridge(d) && (subclass === 0x0600 || subclass === 0x0601);
}
