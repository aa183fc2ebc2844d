/**
 * Lazy lookups in the admin's pci.ids database (pciutils format): the file is kept as one string and
 * only the vendors and devices actually asked for are searched, instead of building 40k entries.
 */
import { statSync, readFileSync } from 'node:fs';
import { hex4 } from '../model.js';
import { under } from '../paths.js';

/** Debian's `pci.ids` package installs the first; Fedora/hwdata-style systems the second. */
export const PCI_IDS_PATHS = ['/usr/share/misc/pci.ids', '/usr/share/hwdata/pci.ids'];

export interface PciNames {
  vendor(vendorId: number): string | null;
  device(vendorId: number, deviceId: number): string | null;
}

export const NO_NAMES: PciNames = { vendor: () => null, device: () => null };

interface VendorBlock {
  name: string;
  /** Index of the vendor line's end and of the next vendor/class line: device lines lie between. */
  start: number;
  end: number;
}

/** Parser over the raw text; lookups are memoised. Exported for tests. */
export class PciIdsText implements PciNames {
  private readonly vendors = new Map<number, VendorBlock | null>();
  private readonly devices = new Map<number, string | null>();

  constructor(private readonly text: string) {}

  private block(vendorId: number): VendorBlock | null {
    const cached = this.vendors.get(vendorId);
    if (cached !== undefined) return cached;
    const key = `${hex4(vendorId)}  `;
    let at = this.text.startsWith(key) ? 0 : this.text.indexOf(`\n${key}`);
    let block: VendorBlock | null = null;
    if (at !== -1) {
      if (this.text[at] === '\n') at += 1;
      const lineEnd = this.lineEnd(at);
      // The vendor's device lines all start with a tab (or are comments); anything else ends the block.
      const next = /\n[^\t#\n]/g;
      next.lastIndex = lineEnd;
      const found = next.exec(this.text);
      block = { name: this.text.slice(at + key.length, lineEnd).trim(), start: lineEnd, end: found ? found.index : this.text.length };
    }
    this.vendors.set(vendorId, block);
    return block;
  }

  private lineEnd(from: number): number {
    const end = this.text.indexOf('\n', from);
    return end === -1 ? this.text.length : end;
  }

  vendor(vendorId: number): string | null {
    return this.block(vendorId)?.name ?? null;
  }

  device(vendorId: number, deviceId: number): string | null {
    const id = vendorId * 0x10000 + deviceId;
    const cached = this.devices.get(id);
    if (cached !== undefined) return cached;
    const block = this.block(vendorId);
    let name: string | null = null;
    if (block) {
      // "\n\tdddd  name"; subsystem lines start with two tabs and never match.
      const key = `\n\t${hex4(deviceId)}  `;
      const at = this.text.indexOf(key, block.start);
      if (at !== -1 && at < block.end) name = this.text.slice(at + key.length, this.lineEnd(at + 1)).trim();
    }
    this.devices.set(id, name);
    return name;
  }
}

let cache: { file: string; mtimeMs: number; size: number; names: PciIdsText } | null = null;

/**
 * Names from `<root>/usr/share/misc/pci.ids` (or hwdata's copy), or from `path` under root when given;
 * `path === null` turns names off. Absent database → every name is null. Cached while the file is unchanged.
 */
export function loadPciNames(root: string, path?: string | null): PciNames {
  if (path === null) return NO_NAMES;
  const candidates = path === undefined ? PCI_IDS_PATHS : [path];
  for (const candidate of candidates) {
    const file = under(root, candidate);
    let stat;
    try {
      stat = statSync(file);
    } catch {
      continue;
    }
    if (cache && cache.file === file && cache.mtimeMs === stat.mtimeMs && cache.size === stat.size) return cache.names;
    const names = new PciIdsText(readFileSync(file, 'utf8'));
    cache = { file, mtimeMs: stat.mtimeMs, size: stat.size, names };
    return names;
  }
  return NO_NAMES;
}
