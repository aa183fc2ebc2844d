/**
 * ifupdown / ifupdown2 `/etc/network/interfaces` (interfaces(5), ifupdown2's ifupdown-addons): which
 * interfaces the host brings up at boot. Pure: one file's text in, uses and `source` lines out; the
 * caller reads the sourced files.
 */
import type { NetConfigUse } from './types.js';

export interface Include {
  /** As written: a path or glob; relative ones are resolved by the caller. */
  pattern: string;
  /** source-directory includes every file of a directory whose name is [A-Za-z0-9_-]+ (run-parts). */
  directory: boolean;
  line: number;
}

export interface InterfacesFile {
  uses: NetConfigUse[];
  includes: Include[];
}

const PORT_OPTIONS: Record<string, string> = {
  'bridge-ports': 'bridge',
  'bond-slaves': 'bond',
  'bond-ports': 'bond',
};
const NOT_A_NAME = new Set(['none', 'all', 'glob', 'regex']);
/** Methods that configure no address by themselves. */
const NO_ADDRESS_METHODS = new Set(['manual', 'loopback']);

interface Stanza {
  name: string;
  line: number;
  method: string;
  hasAddress: boolean;
}

/** Joins `\`-continued lines, drops comments; keeps the number of each logical line's first line. */
function logicalLines(text: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  let pending: { text: string; line: number } | null = null;
  text.split('\n').forEach((raw, i) => {
    const trimmed = raw.trim();
    if (pending === null && (trimmed === '' || trimmed.startsWith('#'))) return;
    const continued = trimmed.endsWith('\\');
    const piece = continued ? trimmed.slice(0, -1) : trimmed;
    pending = pending ? { text: `${pending.text} ${piece}`, line: pending.line } : { text: piece, line: i + 1 };
    if (!continued) {
      out.push(pending);
      pending = null;
    }
  });
  if (pending) out.push(pending);
  return out;
}

export function parseInterfaces(text: string, file: string): InterfacesFile {
  const uses: NetConfigUse[] = [];
  const includes: Include[] = [];
  const use = (name: string, line: number, why: string) => {
    if (name !== 'lo' && !NOT_A_NAME.has(name)) uses.push({ selector: { names: [name] }, file, line, why, tool: 'ifupdown' });
  };
  let stanza: Stanza | null = null;
  const closeStanza = () => {
    if (stanza && (stanza.hasAddress || !NO_ADDRESS_METHODS.has(stanza.method))) {
      use(stanza.name, stanza.line, `is configured with an address (iface ${stanza.name} ${stanza.method})`);
    }
    stanza = null;
  };
  for (const { text: lineText, line } of logicalLines(text)) {
    const [keyword = '', ...args] = lineText.split(/\s+/);
    if (keyword === 'iface') {
      closeStanza();
      const name = args[0] ?? '';
      stanza = { name, line, method: args[2] ?? args[1] ?? 'manual', hasAddress: false };
      // A VLAN named raw.vid (eno1.100) runs on its raw device.
      const dot = name.lastIndexOf('.');
      if (dot > 0 && /^\d+$/.test(name.slice(dot + 1))) use(name.slice(0, dot), line, `carries VLAN ${name}`);
      continue;
    }
    if (keyword === 'auto' || keyword.startsWith('allow-')) {
      closeStanza();
      for (const name of args) use(name, line, `is brought up at boot (${keyword} ${name})`);
      continue;
    }
    if (keyword === 'source' || keyword === 'source-directory') {
      closeStanza();
      for (const pattern of args) includes.push({ pattern, directory: keyword === 'source-directory', line });
      continue;
    }
    if (keyword === 'mapping' || keyword === 'rename') {
      closeStanza();
      continue;
    }
    if (!stanza) continue;
    const option = keyword.replace(/_/g, '-');
    const current: Stanza = stanza;
    if (option === 'address' || option === 'gateway') current.hasAddress = true;
    const kind = PORT_OPTIONS[option];
    if (kind) for (const port of args) use(port, line, `is a port of ${kind} ${current.name}`);
    if (option === 'vlan-raw-device' && args[0]) use(args[0], line, `carries VLAN ${current.name}`);
    if (option === 'bond-master' && args[0]) use(current.name, line, `is a port of bond ${args[0]}`);
  }
  closeStanza();
  return { uses, includes };
}
