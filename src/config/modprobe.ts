/**
 * `options vfio-pci ids=…` lines (found in /etc/modprobe.d by the IOMMU facts reader) → DeviceEntry,
 * read the way the kernel reads them so the daemon keeps exactly what vfio-pci would claim at load.
 *
 * Kernel behaviour followed (drivers/vfio/pci/vfio_pci.c, vfio_pci_fill_ids): the string is split on ","
 * and empty pieces are skipped; each piece goes through sscanf("%x:%x:%x:%x:%x:%x") into vendor, device,
 * subvendor, subdevice, class, class_mask; fewer than 2 converted fields → "invalid id string", skipped;
 * subvendor/subdevice default to PCI_ANY_ID, class and class_mask to 0 (mask 0 matches any class).
 * The kernel's %x skips leading blanks, accepts an optional 0x, stops at the first non-hex character and
 * ignores whatever follows the last converted field.
 */
import { ANY_ID, formatId } from '../model.js';
import type { DeviceEntry, ModprobeIdsLine } from '../model.js';
import type { ConfigError } from './errors.js';

interface Scanned {
  values: number[];
  /** The part of the text the kernel never looks at. */
  ignored: string;
}

/** Emulates the kernel's vsscanf(text, "%x:%x:%x:%x:%x:%x"). Values wider than 53 bits stay approximate (never valid anyway). */
export function scanHexFields(text: string, maxFields = 6): Scanned {
  const values: number[] = [];
  let at = 0;
  let consumed = 0;
  while (values.length < maxFields) {
    if (values.length > 0) {
      if (text[at] !== ':') break;
      at += 1;
    }
    while (at < text.length && /\s/.test(text[at] ?? '')) at += 1;
    const m = /^(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]+)/.exec(text.slice(at));
    if (m === null) break;
    values.push(parseInt(m[1] ?? '', 16));
    at += m[0].length;
    consumed = at;
  }
  return { values, ignored: text.slice(consumed) };
}

const hex = (n: number): string => n.toString(16);

/** Why the kernel-read fields cannot become an entry here, or null when they can. */
function refusal(v: number[]): string | null {
  const [vendor = 0, device = 0, subvendor = ANY_ID, subdevice = ANY_ID, cls = 0, mask = 0] = v;
  if (v.some((n) => n > 0xffffffff)) return 'a field is wider than 32 bits, so it never matches a device';
  if (vendor === ANY_ID || device === ANY_ID) {
    return 'a wildcard (ffffffff) vendor or device would claim every matching device of the host; list exact vendor:device ids instead';
  }
  if (vendor > 0xffff || device > 0xffff) return `vendor/device ${hex(vendor)}:${hex(device)} is wider than 16 bits, so it never matches a device`;
  for (const sub of [subvendor, subdevice]) {
    if (sub !== ANY_ID && sub > 0xffff) return `subsystem id ${hex(sub)} is wider than 16 bits (or ffffffff for any), so it never matches`;
  }
  // A device's class is 24 bits; masked-in class bits above that can never be equal.
  if ((BigInt(cls) & BigInt(mask)) >> 24n !== 0n) return `class ${hex(cls)}/${hex(mask)} is wider than 24 bits, so it never matches`;
  return null;
}

function entryKey(e: DeviceEntry): string {
  const parts = [e.id, e.subsystem].map((m) => (m === null ? '*' : `${hex(m.vendor)}:${hex(m.device)}`));
  return `${parts.join('/')}/${e.classMatch === null ? '*' : `${hex(e.classMatch.classCode)}:${hex(e.classMatch.mask)}`}`;
}

export function entriesFromModprobe(lines: ModprobeIdsLine[]): { entries: DeviceEntry[]; problems: ConfigError[] } {
  const entries: DeviceEntry[] = [];
  const problems: ConfigError[] = [];
  const seen = new Map<string, ModprobeIdsLine>();
  for (const line of lines) {
    const problem = (message: string): void => {
      problems.push({ file: line.file, line: line.line, column: 1, message });
    };
    for (const raw of line.ids) {
      if (raw === '') continue; // the kernel skips empty pieces ("ids=a:b,,c:d") silently
      const { values, ignored } = scanHexFields(raw);
      if (values.length < 2) {
        problem(`ids entry "${raw}" is not vendor:device in hex (e.g. 10de:1b80); vfio-pci skips it too — fix or remove it`);
        continue;
      }
      const why = refusal(values);
      if (why !== null) {
        problem(`ids entry "${raw}" is not imported: ${why}`);
        continue;
      }
      const [vendor = 0, device = 0, subvendor = ANY_ID, subdevice = ANY_ID, cls = 0, mask = 0] = values;
      if (ignored !== '') {
        const read = raw.slice(0, raw.length - ignored.length);
        problem(`ids entry "${raw}": vfio-pci reads only "${read}" and ignores "${ignored}"; imported as ${read} — fix the entry`);
      }
      if (values.length >= 5 && mask === 0) {
        problem(`ids entry "${raw}": class ${hex(cls)} has no class_mask (or mask 0), so vfio-pci ignores the class; add a mask such as :ffffff`);
      }
      const entry: DeviceEntry = {
        address: null,
        id: { vendor, device },
        subsystem: subvendor === ANY_ID && subdevice === ANY_ID ? null : { vendor: subvendor, device: subdevice },
        classMatch: mask === 0 ? null : { classCode: cls & 0xffffff, mask: mask & 0xffffff },
        functions: 'one',
        // The line configures vfio-pci itself, whatever [daemon] driver says.
        driver: 'vfio-pci',
        allowInUse: false,
        source: { file: line.file, line: line.line, column: 1 },
        imported: true,
      };
      const key = entryKey(entry);
      const first = seen.get(key);
      if (first !== undefined) {
        problem(`ids entry "${raw}" (${formatId(vendor, device)}) repeats one already imported from ${first.file}:${first.line}; remove the repeat`);
        continue;
      }
      seen.set(key, line);
      entries.push(entry);
    }
  }
  return { entries, problems };
}
