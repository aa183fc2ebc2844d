/**
 * Pure: turn the daemon's PublishedState into the property values each object publishes, and
 * work out which signals a new state calls for.
 */
import { devicePath, DEVICE_IFACE, MANAGER_PATH, MANAGER_IFACE } from './names.js';
import { coerce, DEVICE1, MANAGER1, sameValue, type InterfaceSpec, type WireValue } from './schema.js';
import type { PublishedState } from './types.js';

export type PropValues = Record<string, WireValue>;

export interface ObjectTable {
  manager: PropValues;
  /** Device object path → its Device1 properties, sorted by path. */
  devices: Map<string, PropValues>;
}

export type BusEvent =
  | { kind: 'changed'; path: string; iface: string; changed: PropValues }
  | { kind: 'added'; path: string; iface: string; props: PropValues }
  | { kind: 'removed'; path: string; iface: string };

function valuesOf(spec: InterfaceSpec, source: object, where: string, problems: string[]): PropValues {
  const out: PropValues = {};
  for (const p of spec.properties) {
    const { value, problem } = coerce(p, (source as Record<string, unknown>)[p.name]);
    if (problem) problems.push(`${where}: ${problem}`);
    out[p.name] = value;
  }
  return out;
}

/** Every value fitted to its D-Bus type; `problems` says what was replaced by a fallback. */
export function buildTable(state: PublishedState): { table: ObjectTable; problems: string[] } {
  const problems: string[] = [];
  const manager = valuesOf(MANAGER1, state.manager, MANAGER_PATH, problems);
  const entries: [string, PropValues][] = [];
  const seen = new Set<string>();
  for (const device of state.devices) {
    const address = typeof device.Address === 'string' ? device.Address : '';
    if (!/^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(address)) {
      problems.push(`device ${JSON.stringify(address)}: not a canonical PCI address (dddd:bb:ss.f), not published`);
      continue;
    }
    const path = devicePath(address);
    if (seen.has(path)) {
      problems.push(`device ${address}: listed twice, the first entry is published`);
      continue;
    }
    seen.add(path);
    entries.push([path, valuesOf(DEVICE1, device, address, problems)]);
  }
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { table: { manager, devices: new Map(entries) }, problems };
}

function changedValues(spec: InterfaceSpec, before: PropValues, after: PropValues): PropValues {
  const changed: PropValues = {};
  for (const p of spec.properties) {
    const a = after[p.name] as WireValue;
    if (!sameValue(before[p.name] as WireValue, a)) changed[p.name] = a;
  }
  return changed;
}

/** A device whose identity (a `const` property) changed is a different device: remove + add. */
function identityChanged(before: PropValues, after: PropValues): boolean {
  return DEVICE1.properties.some((p) => p.emits === 'const' && !sameValue(before[p.name] as WireValue, after[p.name] as WireValue));
}

/**
 * Signals that take a client from `before` to `after`: removals first, then additions, then one
 * PropertiesChanged per object holding only what changed, the manager last. Empty when equal.
 */
export function diffTables(before: ObjectTable, after: ObjectTable): BusEvent[] {
  const removed: BusEvent[] = [];
  const added: BusEvent[] = [];
  const changed: BusEvent[] = [];
  for (const [path, old] of before.devices) {
    const now = after.devices.get(path);
    if (!now || identityChanged(old, now)) removed.push({ kind: 'removed', path, iface: DEVICE_IFACE });
  }
  for (const [path, now] of after.devices) {
    const old = before.devices.get(path);
    if (!old || identityChanged(old, now)) {
      added.push({ kind: 'added', path, iface: DEVICE_IFACE, props: now });
      continue;
    }
    const diff = changedValues(DEVICE1, old, now);
    if (Object.keys(diff).length > 0) changed.push({ kind: 'changed', path, iface: DEVICE_IFACE, changed: diff });
  }
  const managerDiff = changedValues(MANAGER1, before.manager, after.manager);
  if (Object.keys(managerDiff).length > 0) changed.push({ kind: 'changed', path: MANAGER_PATH, iface: MANAGER_IFACE, changed: managerDiff });
  return [...removed, ...added, ...changed];
}
