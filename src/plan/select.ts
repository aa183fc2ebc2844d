import { ANY_ID, formatId, slotOf, type Address, type DeviceEntry, type PciDevice } from '../model.js';

/** What the config wants for one present device, after resolving every entry. */
export interface Want {
  address: Address;
  driver: string;
  allowInUse: boolean;
  imported: boolean;
  /** "config.toml:12" of the entry that asked for it (the first one when several did). */
  origin: string;
  /** Set when two entries ask for different drivers: the device is then refused. */
  conflict: string | null;
  /** Set when the entry pins an identity (address + id) and another card sits there. */
  identityMismatch: string | null;
  /** reset_method wanted before the bind; null: leave the kernel's. Not inherited by `functions = "all"` siblings. */
  resetMethod: string[] | null;
  /** Only guests asked for it (follow_guests): who, e.g. "VM 100 (win11) (hostpci0)". */
  guest?: string;
}

export interface Selection {
  wants: Map<Address, Want>;
  /** Configured addresses with no device present. */
  missing: { address: Address; origin: string; imported: boolean; driver: string }[];
  /** Entries (by id) that match nothing present: worth saying, not an error. */
  unmatched: string[];
}

function originOf(e: DeviceEntry): string {
  return `${e.source.file}:${e.source.line}`;
}

function matchesAny(want: number, have: number): boolean {
  return want === ANY_ID || want === have;
}

/** Does the entry's id/subsystem/class filter accept the device? (address not considered) */
export function matchesIdentity(e: DeviceEntry, d: PciDevice): boolean {
  if (e.id && !(matchesAny(e.id.vendor, d.vendorId) && matchesAny(e.id.device, d.deviceId))) return false;
  if (e.subsystem && !(matchesAny(e.subsystem.vendor, d.subsystemVendorId) && matchesAny(e.subsystem.device, d.subsystemDeviceId))) {
    return false;
  }
  if (e.classMatch && (d.classCode & e.classMatch.mask) !== (e.classMatch.classCode & e.classMatch.mask)) return false;
  return true;
}

function describeSelector(e: DeviceEntry): string {
  const parts: string[] = [];
  if (e.id) parts.push(`id ${formatId(e.id.vendor, e.id.device)}`);
  if (e.subsystem) parts.push(`subsystem ${formatId(e.subsystem.vendor, e.subsystem.device)}`);
  return parts.join(' ');
}

/**
 * Resolves config entries to the devices they name: by address, by id (every match), by address + id
 * (pinned identity), and `functions = "all"` (every function of each matched slot).
 */
export function selectDevices(entries: DeviceEntry[], devices: PciDevice[], defaultDriver: string): Selection {
  const byAddress = new Map(devices.map((d) => [d.address, d]));
  const wants = new Map<Address, Want>();
  const missing: Selection['missing'] = [];
  const unmatched: string[] = [];

  const add = (address: Address, e: DeviceEntry, identityMismatch: string | null, sibling = false): void => {
    const driver = e.driver ?? defaultDriver;
    // A slot's other functions (HDMI audio) need not support the GPU's method (device_specific).
    const resetMethod = sibling ? null : (e.resetMethod ?? null);
    const existing = wants.get(address);
    if (!existing) {
      wants.set(address, {
        address, driver, allowInUse: e.allowInUse, imported: e.imported, origin: originOf(e), conflict: null, identityMismatch, resetMethod,
        ...(e.guest ? { guest: e.guest } : {}),
      });
      return;
    }
    // A config entry wins over a guest's (entries from config come first); two guests share one want.
    if (e.guest) return;
    if (resetMethod !== null) {
      if (existing.resetMethod === null) existing.resetMethod = resetMethod;
      else if (existing.resetMethod.join(' ') !== resetMethod.join(' ') && !existing.conflict) {
        existing.conflict = `configured twice with different reset_method ("${existing.resetMethod.join(' ')}" at ${existing.origin}, "${resetMethod.join(' ')}" at ${originOf(e)})`;
      }
    }
    if (existing.driver !== driver && !existing.conflict) {
      existing.conflict = `configured twice with different drivers (${existing.driver} at ${existing.origin}, ${driver} at ${originOf(e)})`;
    }
    if (identityMismatch && !existing.identityMismatch) existing.identityMismatch = identityMismatch;
  };

  for (const e of entries) {
    let matched: PciDevice[];
    if (e.address) {
      const d = byAddress.get(e.address);
      if (!d) {
        if (e.guest && missing.some((m) => m.address === e.address)) continue;
        missing.push({ address: e.address, origin: originOf(e), imported: e.imported, driver: e.driver ?? defaultDriver });
        continue;
      }
      const mismatch = e.id || e.subsystem || e.classMatch
        ? (matchesIdentity(e, d) ? null : `hardware changed: ${originOf(e)} pins ${describeSelector(e)} at ${d.address}, but ${formatId(d.vendorId, d.deviceId)} (subsystem ${formatId(d.subsystemVendorId, d.subsystemDeviceId)}) sits there; fix the entry if the card was replaced on purpose`)
        : null;
      add(d.address, e, mismatch);
      // A pinned slot whose card changed does not drag its siblings along.
      matched = mismatch ? [] : [d];
    } else {
      matched = devices.filter((d) => matchesIdentity(e, d));
      if (matched.length === 0) unmatched.push(`${originOf(e)}: no device matches ${describeSelector(e)}`);
      for (const d of matched) add(d.address, e, null);
    }
    if (e.functions === 'all') {
      for (const d of matched) {
        for (const sibling of devices) {
          if (sibling.address !== d.address && slotOf(sibling.address) === slotOf(d.address)) add(sibling.address, e, null, true);
        }
      }
    }
  }
  return { wants, missing, unmatched };
}
