/**
 * Early claims: what the udev rule, the boot unit and the initramfs script (data/claim/pcie-passthroughd-claim)
 * match at the kernel's `add` of a PCI device, so that `driver_override` names the target driver before any
 * host driver module is loaded for it. Pure: config + imported `ids=` + the planner's verdicts → lines.
 */
import { ANY_ID, slotOf, type Address, type Config, type DeviceEntry, type PciDevice, type Verdict } from '../model.js';
import { matchesIdentity, selectDevices } from '../plan/select.js';

export interface Claim {
  /** `skip`: never claim this address (a device the guard blocks); skips are matched first. */
  kind: 'claim' | 'skip';
  /** An exact address, a whole slot ("0000:01:00.*"), or null for any address. */
  address: string | null;
  /** null = any; numbers compared with sysfs `vendor`, `device`, `subsystem_vendor`, `subsystem_device`. */
  vendor: number | null;
  device: number | null;
  subsystemVendor: number | null;
  subsystemDevice: number | null;
  classMatch: { classCode: number; mask: number } | null;
  /** Target driver (claims); "-" for skips. */
  driver: string;
  /** Where it comes from, for the kernel log line: "config.toml:12", "modprobe.d/vfio.conf:1", or why skipped. */
  origin: string;
}

export interface ClaimInput {
  config: Config;
  /** Entries imported from `options vfio-pci ids=` (empty when import_modprobe = false). */
  imported: DeviceEntry[];
  /** Entries from follow_guests (guest configs): claimed only where no config or imported entry names the device. */
  followed?: DeviceEntry[];
  devices: PciDevice[];
  verdicts: Verdict[];
  /** False when nothing may be bound (IOMMU off with require_iommu = true): then there are no claims at all. */
  bindingAllowed: boolean;
}

export interface ClaimSet {
  claims: Claim[];
  /** Entries that cannot be written as a claim (said in the journal, never fatal). */
  problems: string[];
}

const ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
/** Module/driver names as the kernel spells them; anything else could break the helper's word splitting. */
const DRIVER = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

function idOrAny(n: number | undefined | null): number | null {
  return n === undefined || n === null || n === ANY_ID ? null : n;
}

function originOf(e: DeviceEntry): string {
  return `${e.source.file}:${e.source.line}`;
}

/** Free text on a claim line: one line, printable ASCII, no leading `#`. */
export function cleanText(s: string): string {
  const flat = s.replace(/[^\x20-\x7e]+/g, ' ').replace(/\s+/g, ' ').trim();
  return flat.replace(/^#+\s*/, '') || '-';
}

function pinned(address: string | null, e: DeviceEntry, driver: string): Claim {
  return {
    kind: 'claim', address, vendor: idOrAny(e.id?.vendor), device: idOrAny(e.id?.device),
    subsystemVendor: idOrAny(e.subsystem?.vendor), subsystemDevice: idOrAny(e.subsystem?.device),
    classMatch: e.classMatch, driver, origin: originOf(e),
  };
}

/** A sibling claimed through `functions = "all"`: pinned to the identity seen now. */
function observed(d: PciDevice, e: DeviceEntry, driver: string): Claim {
  return {
    kind: 'claim', address: d.address, vendor: d.vendorId, device: d.deviceId,
    subsystemVendor: d.subsystemVendorId, subsystemDevice: d.subsystemDeviceId, classMatch: null, driver,
    origin: `${originOf(e)} (functions = "all")`,
  };
}

function key(c: Claim): string {
  return renderClaim({ ...c, origin: '' });
}

/** Exact addresses before slots before "any address": the helper takes the first matching line. */
function rank(c: Claim): number {
  if (c.kind === 'skip') return 0;
  if (c.address === null) return 3;
  return c.address.endsWith('*') ? 2 : 1;
}

export function generateClaims(input: ClaimInput): ClaimSet {
  const { config, devices, verdicts } = input;
  const problems: string[] = [];
  if (!input.bindingAllowed) return { claims: [], problems };
  const verdictOf = new Map(verdicts.map((v) => [v.address, v]));
  const blocked = new Set(verdicts.filter((v) => v.managed && v.state === 'blocked').map((v) => v.address));
  const byAddress = new Map(devices.map((d) => [d.address, d]));
  const out: Claim[] = [];

  // A device the guard blocks is never claimed, whatever entry would match it at the next add.
  for (const a of [...blocked].sort()) {
    const v = verdictOf.get(a);
    out.push({
      kind: 'skip', address: a, vendor: null, device: null, subsystemVendor: null, subsystemDevice: null, classMatch: null,
      driver: '-', origin: `blocked: ${v?.reason ?? ''}`,
    });
  }

  const siblingsOf = (d: PciDevice): PciDevice[] =>
    devices.filter((s) => s.address !== d.address && slotOf(s.address) === slotOf(d.address) && !blocked.has(s.address));

  const claimsOf = (e: DeviceEntry): Claim[] => {
    const driver = e.driver ?? config.daemon.driver;
    if (!DRIVER.test(driver)) {
      problems.push(`${originOf(e)}: driver "${cleanText(driver)}" cannot be claimed early (not a kernel driver name)`);
      return [];
    }
    if (e.address) {
      if (!ADDRESS.test(e.address)) {
        problems.push(`${originOf(e)}: address "${cleanText(e.address)}" cannot be claimed early`);
        return [];
      }
      if (blocked.has(e.address)) return [];
      const mine = [pinned(e.address, e, driver)];
      if (e.functions !== 'all') return mine;
      const d = byAddress.get(e.address);
      if (d && matchesIdentity(e, d)) {
        for (const s of siblingsOf(d)) mine.push(observed(s, e, driver));
      } else if (!d && !e.id && !e.subsystem && !e.classMatch) {
        // Slot not present now and nothing pinned: every function that appears there is meant.
        mine.push({ ...pinned(`${slotOf(e.address)}.*`, e, driver), origin: `${originOf(e)} (functions = "all")` });
      }
      return mine;
    }
    if (!e.id && !e.subsystem && !e.classMatch) return []; // the parser never produces this; claim nothing
    const mine = [pinned(null, e, driver)];
    if (e.functions === 'all') {
      for (const d of devices.filter((x) => matchesIdentity(e, x) && !blocked.has(x.address))) {
        for (const s of siblingsOf(d)) mine.push(observed(s, e, driver));
      }
    }
    return mine;
  };

  const own = [...config.devices, ...input.imported];
  for (const e of own) out.push(...claimsOf(e));
  // A guest's device that an entry of the config (or modprobe.d) names is that entry's alone, as in the planner:
  // its driver, its identity pin; no guest line may claim the device when the entry's pin refuses it.
  const covered = configCovers(own, devices, config.daemon.driver);
  for (const e of input.followed ?? []) {
    const label = e.guest ? ` (${e.guest})` : '';
    for (const c of claimsOf(e)) {
      if (c.address !== null && !c.address.endsWith('*') && covered(c.address)) continue;
      out.push({ ...c, origin: `${c.origin}${label}` });
    }
  }

  const seen = new Set<string>();
  const claims = out.filter((c) => {
    const k = key(c);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  claims.sort((a, b) => rank(a) - rank(b) || (a.address ?? '').localeCompare(b.address ?? ''));
  return { claims, problems };
}

/** Addresses the config's own entries name: selected among present devices, named exactly, or a named absent slot's. */
function configCovers(entries: DeviceEntry[], devices: PciDevice[], defaultDriver: string): (a: Address) => boolean {
  const selected = selectDevices(entries, devices, defaultDriver).wants;
  const present = new Set(devices.map((d) => d.address));
  const named = new Set(entries.flatMap((e) => (e.address ? [e.address] : [])));
  const absentSlots = new Set(entries.flatMap((e) => (e.address && e.functions === 'all' && !present.has(e.address) ? [slotOf(e.address)] : [])));
  return (a) => selected.has(a) || named.has(a) || absentSlots.has(slotOf(a));
}

function hexOrAny(n: number | null, width: number): string {
  return n === null ? '*' : `0x${n.toString(16).padStart(width, '0')}`;
}

/**
 * One line: `KIND ADDRESS VENDOR DEVICE SUBVENDOR SUBDEVICE CLASS MASK DRIVER ORIGIN…`, `*` for any.
 * Ids are spelled the way sysfs prints them ("0x10de"), so the shell helper compares strings.
 */
export function renderClaim(c: Claim): string {
  const cls = c.classMatch ? hexOrAny(c.classMatch.classCode, 6) : '*';
  const mask = c.classMatch ? hexOrAny(c.classMatch.mask, 6) : '*';
  return [
    c.kind, c.address ?? '*', hexOrAny(c.vendor, 4), hexOrAny(c.device, 4), hexOrAny(c.subsystemVendor, 4),
    hexOrAny(c.subsystemDevice, 4), cls, mask, c.driver, cleanText(c.origin),
  ].join(' ');
}

export const CLAIMS_HEADER = [
  '# Early claims of pcie-passthroughd: written by the daemon from its config; do not edit.',
  '# Read at every PCI add by /usr/lib/pcie-passthroughd/pcie-passthroughd-claim (udev rule, boot unit, initramfs).',
  '# kind address vendor device subsystem_vendor subsystem_device class class_mask driver origin',
];

export function renderClaims(claims: Claim[]): string {
  return `${[...CLAIMS_HEADER, ...claims.map(renderClaim)].join('\n')}\n`;
}

/** Addresses (exact) the claims name, for reports. */
export function claimedAddresses(claims: Claim[]): Set<Address> {
  return new Set(claims.filter((c) => c.kind === 'claim' && c.address && ADDRESS.test(c.address)).map((c) => c.address as string));
}

/** Does a claim line accept this device (the same test the shell helper makes)? First match wins; skips first. */
export function claimFor(claims: Claim[], d: PciDevice): Claim | null {
  for (const c of claims) {
    if (c.address !== null) {
      if (c.address.endsWith('*') ? slotOf(d.address) !== c.address.slice(0, -2) : c.address !== d.address) continue;
    }
    if (c.vendor !== null && c.vendor !== d.vendorId) continue;
    if (c.device !== null && c.device !== d.deviceId) continue;
    if (c.subsystemVendor !== null && c.subsystemVendor !== d.subsystemVendorId) continue;
    if (c.subsystemDevice !== null && c.subsystemDevice !== d.subsystemDeviceId) continue;
    if (c.classMatch && (d.classCode & c.classMatch.mask) !== (c.classMatch.classCode & c.classMatch.mask)) continue;
    return c.kind === 'claim' ? c : null;
  }
  return null;
}
