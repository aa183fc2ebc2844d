/**
 * Proxmox VE PCI resource mappings (/etc/pve/mapping/pci.cfg), pure over the file text.
 * A section config: an unindented line names a mapping, the indented lines below it are its
 * properties ("map node=pve1,path=0000:01:00.0,id=10de:1b80,subsystem-id=1458:3702,iommugroup=14",
 * once per node, "description …", "mdev 1"); a blank line ends the section.
 */
import type { GuestProblem } from './types.js';

export interface MappingEntry {
  line: number;
  node: string;
  /** Paths as written, split on ";": Proxmox takes the first one available when the guest starts. */
  paths: string[];
  id: string | null;
  subsystemId: string | null;
  iommuGroup: number | null;
}

export interface PciMapping {
  name: string;
  line: number;
  entries: MappingEntry[];
}

export interface PciMappings {
  mappings: Map<string, PciMapping>;
  problems: GuestProblem[];
}

const SECTION = /^(\S+)\s*$/;
const PROPERTY = /^\s+(\S+)(?:\s+(.*))?$/;

export function parsePciMappings(text: string, file: string): PciMappings {
  const mappings = new Map<string, PciMapping>();
  const problems: GuestProblem[] = [];
  let current: PciMapping | null = null;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/\r$/, '');
    const lineNo = i + 1;
    if (line.trim() === '') {
      current = null;
      continue;
    }
    if (line.trim().startsWith('#')) continue;
    const section = SECTION.exec(line);
    if (section && !/^\s/.test(line)) {
      const name = section[1] ?? '';
      current = { name, line: lineNo, entries: [] };
      if (mappings.has(name)) problems.push({ file, line: lineNo, message: `mapping "${name}" is defined twice; the later one is used` });
      mappings.set(name, current);
      continue;
    }
    const property = PROPERTY.exec(line);
    if (!property || current === null) {
      problems.push({ file, line: lineNo, message: `not part of a mapping: ${JSON.stringify(line.trim())}` });
      continue;
    }
    if (property[1] !== 'map') continue;
    const fields: Record<string, string> = {};
    for (const part of (property[2] ?? '').split(',')) {
      const eq = part.indexOf('=');
      if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
    if (!fields.node || !fields.path) {
      problems.push({ file, line: lineNo, message: `map of "${current.name}" needs node= and path=` });
      continue;
    }
    const group = fields.iommugroup !== undefined && /^\d+$/.test(fields.iommugroup) ? parseInt(fields.iommugroup, 10) : null;
    current.entries.push({
      line: lineNo,
      node: fields.node,
      paths: fields.path.split(';').map((p) => p.trim()).filter(Boolean),
      id: fields.id ?? null,
      subsystemId: fields['subsystem-id'] ?? null,
      iommuGroup: group,
    });
  }
  return { mappings, problems };
}

/** Proxmox's node name: the host name up to the first dot (/etc/hostname). */
export function nodeNameFrom(hostnameFile: string | null): string | null {
  const first = hostnameFile?.split('\n')[0]?.trim() ?? '';
  const short = first.split('.')[0] ?? '';
  return short === '' ? null : short;
}
