import type { Address } from '../model.js';

export interface PciRef {
  /** Canonical address; ".0" when the function was left out. */
  address: Address;
  /** The function was left out: the whole slot (Proxmox passes every function of it). */
  allFunctions: boolean;
}

/** Proxmox's host PCI id: [domain:]bus:slot[.function], hex; the domain defaults to 0000. */
const PVE_PCI = /^(?:([0-9a-f]{4,}):)?([0-9a-f]{2}):([0-9a-f]{2})(?:\.([0-7]))?$/i;

export function parsePveRef(text: string): PciRef | null {
  const m = PVE_PCI.exec(text.trim());
  if (!m) return null;
  const [, domain = '0000', bus = '', slot = '', fn] = m;
  return { address: `${domain.toLowerCase()}:${bus.toLowerCase()}:${slot.toLowerCase()}.${fn ?? '0'}`, allFunctions: fn === undefined };
}

/** libvirt writes each part as a C integer, usually hex with 0x ("0x0000", "0x01", "0x00", "0x0"). */
function libvirtNumber(text: string | undefined): number | null {
  if (text === undefined) return null;
  const t = text.trim();
  const n = /^0x[0-9a-f]+$/i.test(t) ? parseInt(t.slice(2), 16) : /^[0-9]+$/.test(t) ? parseInt(t, 10) : NaN;
  return Number.isFinite(n) ? n : null;
}

export function libvirtAddress(attrs: Record<string, string>): Address | null {
  const domain = libvirtNumber(attrs.domain ?? '0');
  const bus = libvirtNumber(attrs.bus);
  const slot = libvirtNumber(attrs.slot);
  const fn = libvirtNumber(attrs.function ?? '0');
  if (domain === null || bus === null || slot === null || fn === null) return null;
  if (domain > 0xffffff || bus > 0xff || slot > 0x1f || fn > 7) return null;
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${hex(domain, 4)}:${hex(bus, 2)}:${hex(slot, 2)}.${fn}`;
}
