import type { Guest, GuestDevice, GuestInventory } from '../../src/guests/types.js';

/** Plain-data builders for guest tests. */
export function gdev(address: string | string[], over: Partial<GuestDevice> = {}): GuestDevice {
  return {
    candidates: Array.isArray(address) ? address : [address],
    allFunctions: false,
    managedByHypervisor: true,
    expected: null,
    origin: { file: '/etc/pve/qemu-server/100.conf', line: 10, via: 'hostpci0' },
    ...over,
  };
}

export function vm(id: string, name: string, devices: GuestDevice[], onboot = true): Guest {
  return { source: 'pve', id, name, onboot, file: `/etc/pve/qemu-server/${id}.conf`, devices };
}

export function domain(name: string, devices: GuestDevice[], autostart = false): Guest {
  return { source: 'libvirt', id: `uuid-${name}`, name, onboot: autostart, file: `/etc/libvirt/qemu/${name}.xml`, devices };
}

export function inventory(guests: Guest[], over: Partial<GuestInventory> = {}): GuestInventory {
  return {
    guests,
    problems: [],
    sources: { pve: { state: 'ok', detail: '' }, libvirt: { state: 'ok', detail: '' } },
    ...over,
  };
}
