/**
 * What the hypervisors' own configuration says about guests and the host PCI devices they are
 * given. Plain data, read-only: nothing here is ever written back to /etc/pve or /etc/libvirt.
 */
import type { Address } from '../model.js';

export type GuestSource = 'pve' | 'libvirt';

/** Where a guest asked for a device, for messages ("/etc/pve/qemu-server/100.conf:7"). */
export interface GuestOrigin {
  file: string;
  line: number;
  /** How the guest names it: "hostpci0", "hostpci1 (mapping gpu)", "hostdev", "interface type='hostdev'". */
  via: string;
}

/** What a Proxmox resource mapping pins for the device on this node (hardware-changed detection). */
export interface ExpectedIdentity {
  mapping: string;
  vendorId: number | null;
  deviceId: number | null;
  subsystemVendorId: number | null;
  subsystemDeviceId: number | null;
  iommuGroup: number | null;
}

export interface GuestDevice {
  /**
   * Canonical addresses, the first one preferred: a mapping may list several paths on one node and
   * Proxmox takes the first one available when the guest starts.
   */
  candidates: Address[];
  /** Written without a function ("01:00"): every function of the slot goes to the guest. */
  allFunctions: boolean;
  /** libvirt managed='yes': libvirt detaches it from its host driver itself. Proxmox always does. */
  managedByHypervisor: boolean;
  expected: ExpectedIdentity | null;
  origin: GuestOrigin;
}

export interface Guest {
  source: GuestSource;
  /** Proxmox vmid ("100"); libvirt domain UUID (its name when the file has none). */
  id: string;
  name: string;
  /** Proxmox `onboot: 1`; libvirt: a link in /etc/libvirt/qemu/autostart/. */
  onboot: boolean;
  file: string;
  devices: GuestDevice[];
}

/** A file that could not be understood (reported, the rest is still read). */
export interface GuestProblem {
  file: string;
  line: number;
  message: string;
}

/**
 * absent: the hypervisor is not installed here (no directory); ok: read; unavailable: it is there but
 * could not be read now (pmxcfs not mounted at early boot, a read error or timeout).
 */
export type SourceState = 'absent' | 'ok' | 'unavailable';

export interface GuestInventory {
  guests: Guest[];
  problems: GuestProblem[];
  sources: Record<GuestSource, { state: SourceState; detail: string }>;
}

export const EMPTY_INVENTORY: GuestInventory = {
  guests: [],
  problems: [],
  sources: { pve: { state: 'absent', detail: '' }, libvirt: { state: 'absent', detail: '' } },
};

/** "VM 100 (win11)" / "libvirt domain win11": how an admin names the guest. */
export function guestLabel(g: Pick<Guest, 'source' | 'id' | 'name'>): string {
  return g.source === 'pve' ? `VM ${g.id}${g.name ? ` (${g.name})` : ''}` : `libvirt domain ${g.name || g.id}`;
}

/** "VM 100 (win11, onboot)" / "libvirt domain win11 (autostart)". */
export function guestLabelWithStart(g: Pick<Guest, 'source' | 'id' | 'name' | 'onboot'>): string {
  const start = g.onboot ? (g.source === 'pve' ? 'onboot' : 'autostart') : '';
  if (g.source === 'pve') {
    const inner = [g.name, start].filter(Boolean).join(', ');
    return `VM ${g.id}${inner ? ` (${inner})` : ''}`;
  }
  return `libvirt domain ${g.name || g.id}${start ? ` (${start})` : ''}`;
}
