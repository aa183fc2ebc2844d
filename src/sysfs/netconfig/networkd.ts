/**
 * systemd-networkd `.network` and udev `.link` files (systemd.network(5), systemd.link(5)): which
 * interfaces networkd manages, and what name a `.link` file gives an interface. Pure.
 */
import { globMatch } from './glob.js';
import { iniBool, parseIni } from './ini.js';
import type { LinkRename, NetConfigUse, NetDevice, NetSelector } from './types.js';

const MATCH_KEYS: Record<string, keyof NetSelector> = {
  Name: 'names',
  MACAddress: 'macs',
  PermanentMACAddress: 'macs',
  Path: 'paths',
  Driver: 'drivers',
};

/** [Match] of a .network or .link file: lists accumulate; an empty assignment resets (systemd semantics). */
function matchSelector(entries: ReturnType<typeof parseIni>): { selector: NetSelector; line: number; known: number } {
  const selector: NetSelector = {};
  let line = 0;
  let known = 0;
  for (const e of entries) {
    if (e.section !== 'Match') continue;
    const field = MATCH_KEYS[e.key];
    if (!field) continue;
    line ||= e.line;
    known++;
    const values = e.value === '' ? [] : e.value.split(/\s+/).map((v) => (field === 'macs' ? v.toLowerCase() : v));
    selector[field] = e.value === '' ? [] : [...(selector[field] ?? []), ...values];
  }
  return { selector, line, known };
}

export interface NetworkFile {
  use: NetConfigUse;
  /** [Link] Unmanaged=yes: networkd leaves a matching interface alone. */
  unmanaged: boolean;
}

/** null when the file has no [Match] key this reader understands (networkd itself ignores an empty [Match]). */
export function parseNetworkFile(text: string, file: string): NetworkFile | null {
  const entries = parseIni(text);
  const { selector, line, known } = matchSelector(entries);
  if (known === 0) return null;
  const unmanaged = entries.some((e) => e.section === 'Link' && e.key === 'Unmanaged' && iniBool(e.value) === true);
  const network = entries.find((e) => e.section === 'Network' && ['Bridge', 'Bond', 'VRF'].includes(e.key));
  const why = network ? `is a port of ${network.key.toLowerCase()} ${network.value}` : 'is managed by systemd-networkd';
  return { use: { selector, file, line, why, tool: 'systemd-networkd' }, unmanaged };
}

export function parseLinkFile(text: string, file: string): LinkRename | null {
  const entries = parseIni(text);
  const { selector, known } = matchSelector(entries);
  const originalNames = entries.filter((e) => e.section === 'Match' && e.key === 'OriginalName').flatMap((e) => e.value.split(/\s+/).filter(Boolean));
  if (known === 0 && originalNames.length === 0) return null;
  const name = entries.filter((e) => e.section === 'Link' && e.key === 'Name').at(-1)?.value || null;
  return { selector, originalNames, name, file };
}

/** Each list present must have one entry that matches ("!" before the list negates it). */
function listMatches(patterns: string[] | undefined, value: string | null, glob: boolean): boolean {
  if (patterns === undefined || patterns.length === 0) return true;
  const negated = patterns[0]!.startsWith('!');
  const list = negated ? [patterns[0]!.slice(1), ...patterns.slice(1)].filter(Boolean) : patterns;
  const hit = value !== null && list.some((p) => (glob ? globMatch(p, value) : p === value));
  return negated ? !hit : hit;
}

/** Whether `device` (known by `name`) satisfies the selector. */
export function selectorMatches(selector: NetSelector, device: NetDevice, name = device.name): boolean {
  return (
    listMatches(selector.names, name, true) &&
    listMatches(selector.macs, device.mac, false) &&
    listMatches(selector.paths, `pci-${device.address}`, true) &&
    listMatches(selector.drivers, device.driver, true)
  );
}

/** The name udev gives `device` by the first matching .link file (lexical order), or null. */
export function linkName(links: LinkRename[], device: NetDevice): string | null {
  for (const link of links) {
    if (!selectorMatches(link.selector, device) || !listMatches(link.originalNames, device.name, true)) continue;
    return link.name;
  }
  return null;
}
