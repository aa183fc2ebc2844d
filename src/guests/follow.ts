/**
 * follow_guests: the devices of the chosen guests become config entries, with no privilege a
 * [[device]] entry would not have (allow_in_use is never set, so the host-use guard applies).
 * A mapping's id=/subsystem-id= pin the identity like address + id in config.toml.
 */
import type { Address, DeviceEntry, FollowGuests, Snapshot } from '../model.js';
import { chosenAddress } from './usage.js';
import { guestLabel, type GuestInventory } from './types.js';

export function guestEntries(inventory: GuestInventory, mode: FollowGuests, snapshot: Pick<Snapshot, 'devices'>): DeviceEntry[] {
  if (mode === 'none') return [];
  const present = new Set<Address>(snapshot.devices.map((d) => d.address));
  const entries: DeviceEntry[] = [];
  for (const guest of inventory.guests) {
    if (mode === 'onboot' && !guest.onboot) continue;
    for (const device of guest.devices) {
      const { address } = chosenAddress(device, present);
      if (!address) continue;
      const e = device.expected;
      const id = e && e.vendorId !== null && e.deviceId !== null ? { vendor: e.vendorId, device: e.deviceId } : null;
      const subsystem = id && e && e.subsystemVendorId !== null && e.subsystemDeviceId !== null
        ? { vendor: e.subsystemVendorId, device: e.subsystemDeviceId }
        : null;
      entries.push({
        address, id, subsystem, classMatch: null,
        functions: device.allFunctions ? 'all' : 'one',
        driver: null,
        allowInUse: false,
        source: { file: device.origin.file, line: device.origin.line, column: 1 },
        imported: false,
        guest: `${guestLabel(guest)} (${device.origin.via})`,
      });
    }
  }
  return entries;
}

/**
 * While a guest source cannot be read (pmxcfs not mounted yet, a read timed out) its guests are
 * unknown, not gone: releasing their devices then would yank them from guests about to start.
 */
export function guestsUncertain(inventory: GuestInventory, mode: FollowGuests): boolean {
  return mode !== 'none' && Object.values(inventory.sources).some((s) => s.state === 'unavailable');
}
