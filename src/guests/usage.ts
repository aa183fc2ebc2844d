/** Pure: which present devices each guest's entries name, and the reverse index (Device1.UsedBy). */
import { compareAddresses, slotOf, type Address, type Snapshot } from '../model.js';
import type { Guest, GuestDevice, GuestInventory, GuestSource } from './types.js';

export interface GuestRef {
  source: GuestSource;
  id: string;
  name: string;
  onboot: boolean;
}

/** The candidate the hypervisor would take: the first one present (Proxmox mappings), else the first. */
export function chosenAddress(device: GuestDevice, present: ReadonlySet<Address>): { address: Address; present: boolean } {
  const found = device.candidates.find((a) => present.has(a));
  return { address: found ?? device.candidates[0] ?? '', present: found !== undefined };
}

/** Every present address the entry gives the guest: the chosen one, and with a whole slot its siblings. */
export function addressesOf(device: GuestDevice, snapshot: Pick<Snapshot, 'devices'>): Address[] {
  const present = new Set(snapshot.devices.map((d) => d.address));
  const chosen = chosenAddress(device, present);
  if (!chosen.present) return [];
  if (!device.allFunctions) return [chosen.address];
  const slot = slotOf(chosen.address);
  return snapshot.devices.filter((d) => slotOf(d.address) === slot).map((d) => d.address).sort(compareAddresses);
}

export function refOf(g: Guest): GuestRef {
  return { source: g.source, id: g.id, name: g.name, onboot: g.onboot };
}

/** Address → the guests that name it, each once, Proxmox first then libvirt, by id. */
export function usedByIndex(inventory: Pick<GuestInventory, 'guests'>, snapshot: Pick<Snapshot, 'devices'>): Map<Address, GuestRef[]> {
  const index = new Map<Address, GuestRef[]>();
  for (const g of inventory.guests) {
    for (const device of g.devices) {
      for (const address of addressesOf(device, snapshot)) {
        const list = index.get(address) ?? [];
        if (!list.some((r) => r.source === g.source && r.id === g.id)) list.push(refOf(g));
        index.set(address, list);
      }
    }
  }
  const order = (r: GuestRef) => `${r.source === 'pve' ? 0 : 1}:${r.source === 'pve' ? r.id.padStart(10, '0') : r.name}`;
  for (const list of index.values()) list.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  return index;
}
