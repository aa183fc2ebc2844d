/**
 * config.toml text → Config, or every problem found, each with file:line:column and the fix.
 * Pure: no I/O, never throws for bad input. The AST of toml-eslint-parser keeps a position for
 * every key and value, so semantic errors point at the exact offending spot, not only syntax errors.
 */
import { parseTOML, ParseError } from 'toml-eslint-parser';
import type { AST } from 'toml-eslint-parser';
import { DEFAULT_DAEMON_SETTINGS, formatId, slotOf } from '../model.js';
import type { Config, DaemonSettings, DeviceEntry, IdMatch, SourcePos } from '../model.js';
import type { ConfigError } from './errors.js';
import { byPosition } from './errors.js';
import { cronProblem } from './cron.js';
import { prescanConfig } from './limits.js';
import { nearestKey } from './nearest.js';
import { checkAddress, checkDriverName, checkIdPair } from './pci-syntax.js';
import { checkResetMethod } from './reset-syntax.js';
import type { Checked } from './pci-syntax.js';

export type ParseResult = { ok: true; config: Config } | { ok: false; errors: ConfigError[] };

export const DAEMON_KEYS = ['driver', 'require_iommu', 'check_schedule', 'on_remove', 'import_modprobe', 'metrics_textfile', 'follow_guests'] as const;
export const DEVICE_KEYS = ['address', 'id', 'subsystem', 'functions', 'driver', 'allow_in_use', 'reset_method'] as const;
const SECTIONS = ['daemon', 'device'] as const;

/** One `key = value` of a section, wherever TOML let it be written (table, inline table, dotted key). */
interface Item {
  key: string;
  /** Key segments after `key` (e.g. `driver.name = …`); never valid here, reported as such. */
  subKeys: string[];
  keyNode: AST.TOMLNode;
  value: AST.TOMLContentNode;
}

interface DeviceBlock {
  /** The `[[device]]` header (or the inline table `{`). */
  at: AST.TOMLNode;
  items: Item[];
}

/** A validated device with the nodes later cross-entry checks point at. */
interface CheckedDevice {
  entry: DeviceEntry;
  addressNode: AST.TOMLNode | null;
  idNode: AST.TOMLNode | null;
}

function startOf(node: AST.TOMLNode): { line: number; column: number } {
  return { line: node.loc.start.line, column: node.loc.start.column + 1 };
}

function keyPath(key: AST.TOMLKey): string[] {
  return key.keys.map((k) => (k.type === 'TOMLBare' ? k.name : k.value));
}

function itemsOf(keyValues: AST.TOMLKeyValue[]): Item[] {
  return keyValues.map((kv) => {
    const [key = '', ...subKeys] = keyPath(kv.key);
    return { key, subKeys, keyNode: kv.key, value: kv.value };
  });
}

/** How a value reads to a human, for "must be X, not Y" messages. */
function describe(node: AST.TOMLContentNode): string {
  if (node.type === 'TOMLArray') return 'an array';
  if (node.type === 'TOMLInlineTable') return 'a table';
  switch (node.kind) {
    case 'string':
      return `the string "${node.value}"`;
    case 'integer':
    case 'float':
      return `the number ${node.number}`;
    case 'boolean':
      return String(node.value);
    default:
      return `the date/time ${node.datetime}`;
  }
}

function quoteList(keys: readonly string[]): string {
  return keys.join(', ');
}

/**
 * The parser notices a missing value ("key =") or an unclosed "[table" only at the start of the next
 * line; the admin's mistake is at the end of the line before, so point there.
 */
function syntaxErrorPosition(source: string, e: ParseError): { line: number; column: number } {
  const endOfLineMistake = /^(Unspecified values are invalid|Unterminated table-key|The key, equals sign, and value must be on the same line)/.test(e.message);
  if (endOfLineMistake && e.column === 0 && e.lineNumber > 1) {
    // Back over the blank lines the parser skipped, to just after the last thing written.
    const end = source.slice(0, e.index).trimEnd().length;
    const before = source.slice(0, end);
    return { line: before.split('\n').length, column: end - before.lastIndexOf('\n') };
  }
  return { line: e.lineNumber, column: e.column + 1 };
}

export function parseConfig(text: string, file: string): ParseResult {
  const errors: ConfigError[] = [];
  const report = (node: AST.TOMLNode, message: string): void => {
    errors.push({ file, ...startOf(node), message });
  };

  // An editor's byte-order mark is invisible to the admin; drop it so line 1 columns match what they see.
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const tooBig = prescanConfig(source, file);
  if (tooBig) return { ok: false, errors: [tooBig] };
  let program: AST.TOMLProgram;
  try {
    program = parseTOML(source);
  } catch (e) {
    if (e instanceof ParseError) {
      const fix = /multiple times/.test(e.message)
        ? 'remove the repeated key or table, or merge the two'
        : 'fix the syntax here (strings need double quotes, one key = value per line)';
      const message = `TOML syntax error: ${e.message.replace(/\.$/, '')}; ${fix}`;
      return { ok: false, errors: [{ file, ...syntaxErrorPosition(source, e), message }] };
    }
    return { ok: false, errors: [{ file, line: 0, column: 0, message: `could not parse the file: ${String(e)}` }] };
  }

  const daemonItems: Item[] = [];
  const deviceBlocks: DeviceBlock[] = [];
  const [top] = program.body;
  for (const node of top.body) {
    if (node.type === 'TOMLKeyValue') collectTopLevelKey(node, daemonItems, deviceBlocks, report);
    else collectTable(node, daemonItems, deviceBlocks, report);
  }

  const daemon = checkDaemon(daemonItems, report);
  const devices: CheckedDevice[] = [];
  for (const block of deviceBlocks) {
    const device = checkDevice(block, file, report);
    if (device !== null) devices.push(device);
  }
  checkAcrossDevices(devices, daemon.driver, report);

  if (errors.length > 0) return { ok: false, errors: errors.sort(byPosition) };
  return { ok: true, config: { path: file, daemon, devices: devices.map((d) => d.entry) } };
}

type Report = (node: AST.TOMLNode, message: string) => void;

function collectTopLevelKey(kv: AST.TOMLKeyValue, daemonItems: Item[], deviceBlocks: DeviceBlock[], report: Report): void {
  const [head = '', ...rest] = keyPath(kv.key);
  if (head === 'daemon') {
    if (rest.length > 0) {
      const [key = '', ...subKeys] = rest;
      daemonItems.push({ key, subKeys, keyNode: kv.key, value: kv.value });
    } else if (kv.value.type === 'TOMLInlineTable') {
      daemonItems.push(...itemsOf(kv.value.body));
    } else {
      report(kv.value, `daemon must be a table, not ${describe(kv.value)}; write a [daemon] line with its keys below it`);
    }
    return;
  }
  if (head === 'device') {
    if (rest.length === 0 && kv.value.type === 'TOMLArray') {
      for (const element of kv.value.elements) {
        if (element.type === 'TOMLInlineTable') deviceBlocks.push({ at: element, items: itemsOf(element.body) });
        else report(element, `each device must be a table, not ${describe(element)}; write a [[device]] table per device`);
      }
    } else {
      report(kv.key, 'device settings belong inside a [[device]] table: write [[device]] on its own line, then address = "…" below it');
    }
    return;
  }
  if (head === 'driver') {
    report(kv.key, '"driver" is outside any table; add a [daemon] line above it (the default driver) or a [[device]] line (one device\'s driver)');
  } else if ((DEVICE_KEYS as readonly string[]).includes(head)) {
    report(kv.key, `"${head}" is outside any table; add a [[device]] line above it`);
  } else if ((DAEMON_KEYS as readonly string[]).includes(head)) {
    report(kv.key, `"${head}" is outside any table; add a [daemon] line above it`);
  } else {
    report(kv.key, `unknown top-level key "${head}"${sectionHint(head)} — the file holds a [daemon] table and [[device]] tables`);
  }
}

function collectTable(table: AST.TOMLTable, daemonItems: Item[], deviceBlocks: DeviceBlock[], report: Report): void {
  const [head, ...rest] = table.resolvedKey;
  const shown = table.kind === 'array' ? `[[${keyPath(table.key).join('.')}]]` : `[${keyPath(table.key).join('.')}]`;
  if (head === 'daemon') {
    if (table.kind === 'array') report(table.key, '[daemon] is a single table: write [daemon] with single brackets');
    else if (rest.length > 0) report(table.key, `${shown} is not a known table; [daemon] has no sub-tables`);
    else daemonItems.push(...itemsOf(table.body));
    return;
  }
  if (head === 'device') {
    if (table.kind === 'array' && rest.length === 1) {
      deviceBlocks.push({ at: table, items: itemsOf(table.body) });
    } else if (table.kind === 'standard' && rest.length === 0) {
      report(table.key, 'write [[device]] with double brackets: each device is its own [[device]] table');
      deviceBlocks.push({ at: table, items: itemsOf(table.body) });
    } else {
      report(table.key, `${shown} is not a known table; [[device]] has no sub-tables`);
    }
    return;
  }
  report(table.key, `unknown table ${shown}${sectionHint(String(head))} — known tables are [daemon] and [[device]]`);
}

function sectionHint(name: string): string {
  const guess = nearestKey(name, SECTIONS);
  if (guess === 'device') return '; did you mean [[device]]?';
  if (guess === 'daemon') return '; did you mean [daemon]?';
  return '';
}

/** Reports an unknown key, suggesting the close known one, or the table where it belongs. */
function reportUnknownKey(item: Item, here: 'daemon' | 'device', report: Report): string | null {
  const known = here === 'daemon' ? DAEMON_KEYS : DEVICE_KEYS;
  const other = here === 'daemon' ? DEVICE_KEYS : DAEMON_KEYS;
  const table = here === 'daemon' ? '[daemon]' : '[[device]]';
  if ((other as readonly string[]).includes(item.key)) {
    const belongs = here === 'daemon' ? 'a [[device]] table' : 'the [daemon] table';
    report(item.keyNode, `"${item.key}" is not a ${table} key; it belongs in ${belongs}`);
    return null;
  }
  const guess = nearestKey(item.key, known);
  report(item.keyNode, `unknown key "${item.key}" in ${table}${guess ? `; did you mean "${guess}"?` : ''} (known keys: ${quoteList(known)})`);
  return guess;
}

function reportSubKeys(item: Item, report: Report): boolean {
  if (item.subKeys.length === 0) return false;
  report(item.keyNode, `"${item.key}" takes a single value; write ${item.key} = … without ".${item.subKeys.join('.')}"`);
  return true;
}

function asString(item: Item, report: Report): string | null {
  if (item.value.type === 'TOMLValue' && item.value.kind === 'string') return item.value.value;
  report(item.value, `${item.key} must be a string in double quotes, not ${describe(item.value)}`);
  return null;
}

function asBoolean(item: Item, report: Report): boolean | null {
  if (item.value.type === 'TOMLValue' && item.value.kind === 'boolean') return item.value.value;
  report(item.value, `${item.key} must be true or false (without quotes), not ${describe(item.value)}`);
  return null;
}

function asChoice<T extends string>(item: Item, choices: readonly T[], report: Report): T | null {
  const text = asString(item, report);
  if (text === null) return null;
  const choice = choices.find((c) => c === text);
  if (choice !== undefined) return choice;
  report(item.value, `${item.key} must be ${choices.map((c) => `"${c}"`).join(' or ')}, not "${text}"`);
  return null;
}

function asChecked<T>(item: Item, check: (raw: string) => Checked<T>, report: Report): T | null {
  const text = asString(item, report);
  if (text === null) return null;
  const checked = check(text);
  if (checked.ok) return checked.value;
  report(item.value, `${item.key}: ${checked.problem}`);
  return null;
}

function checkDaemon(items: Item[], report: Report): DaemonSettings {
  const settings: DaemonSettings = { ...DEFAULT_DAEMON_SETTINGS };
  for (const item of items) {
    if (!(DAEMON_KEYS as readonly string[]).includes(item.key)) {
      reportUnknownKey(item, 'daemon', report);
      continue;
    }
    if (reportSubKeys(item, report)) continue;
    switch (item.key) {
      case 'driver': {
        const driver = asChecked(item, checkDriverName, report);
        if (driver !== null) settings.driver = driver;
        break;
      }
      case 'require_iommu': {
        const value = asBoolean(item, report);
        if (value !== null) settings.requireIommu = value;
        break;
      }
      case 'import_modprobe': {
        const value = asBoolean(item, report);
        if (value !== null) settings.importModprobe = value;
        break;
      }
      case 'on_remove': {
        const value = asChoice(item, ['release', 'keep'] as const, report);
        if (value !== null) settings.onRemove = value;
        break;
      }
      case 'metrics_textfile': {
        const text = asString(item, report);
        if (text === null) break;
        if (text === '' || (text.startsWith('/') && text.endsWith('.prom') && !text.endsWith('/.prom'))) settings.metricsTextfile = text;
        else report(item.value, 'metrics_textfile must be an absolute path ending in ".prom" (node_exporter reads only those), or "" for none');
        break;
      }
      case 'follow_guests': {
        const value = asChoice(item, ['none', 'onboot', 'all'] as const, report);
        if (value !== null) settings.followGuests = value;
        break;
      }
      case 'check_schedule': {
        const text = asString(item, report);
        if (text === null) break;
        const problem = cronProblem(text);
        if (problem === null) settings.checkSchedule = text.trim();
        else report(item.value, `check_schedule: ${problem}`);
        break;
      }
    }
  }
  return settings;
}

function checkDevice(block: DeviceBlock, file: string, report: Report): CheckedDevice | null {
  const at = startOf(block.at);
  const source: SourcePos = { file, line: at.line, column: at.column };
  const entry: DeviceEntry = {
    address: null, id: null, subsystem: null, classMatch: null,
    functions: 'one', driver: null, allowInUse: false, source, imported: false,
  };
  let valid = true;
  const fail = (): void => {
    valid = false;
  };
  const nodes: { address: AST.TOMLNode | null; id: AST.TOMLNode | null; subsystem: AST.TOMLNode | null } = {
    address: null, id: null, subsystem: null,
  };
  let misspeltIdentity = false;
  for (const item of block.items) {
    if (!(DEVICE_KEYS as readonly string[]).includes(item.key)) {
      const guess = reportUnknownKey(item, 'device', report);
      misspeltIdentity ||= guess === 'address' || guess === 'id';
      fail();
      continue;
    }
    if (reportSubKeys(item, report)) {
      fail();
      continue;
    }
    switch (item.key) {
      case 'address': {
        nodes.address = item.value;
        entry.address = asChecked(item, checkAddress, report);
        if (entry.address === null) fail();
        break;
      }
      case 'id': {
        nodes.id = item.value;
        entry.id = asChecked(item, (raw) => checkIdPair(raw, 'id'), report);
        if (entry.id === null) fail();
        break;
      }
      case 'subsystem': {
        nodes.subsystem = item.keyNode;
        entry.subsystem = asChecked(item, (raw) => checkIdPair(raw, 'subsystem'), report);
        if (entry.subsystem === null) fail();
        break;
      }
      case 'functions': {
        const value = asChoice(item, ['one', 'all'] as const, report);
        if (value === null) fail();
        else entry.functions = value;
        break;
      }
      case 'driver': {
        entry.driver = asChecked(item, checkDriverName, report);
        if (entry.driver === null) fail();
        break;
      }
      case 'allow_in_use': {
        const value = asBoolean(item, report);
        if (value === null) fail();
        else entry.allowInUse = value;
        break;
      }
      case 'reset_method': {
        const value = asChecked(item, checkResetMethod, report);
        if (value === null) fail();
        else entry.resetMethod = value;
        break;
      }
    }
  }
  // A misspelt address/id already has its own error; "neither address nor id" would only repeat it.
  if (nodes.address === null && nodes.id === null && !misspeltIdentity) {
    report(block.at, 'this [[device]] has neither address nor id; add address = "0000:01:00.0" (one device) or id = "10de:1b80" (every device with that id)');
    fail();
  }
  if (nodes.subsystem !== null && nodes.id === null) {
    report(nodes.subsystem, 'subsystem only narrows an id match; add id = "vvvv:dddd" to this [[device]] or remove subsystem');
    fail();
  }
  return valid ? { entry, addressNode: nodes.address, idNode: nodes.id } : null;
}

function describeIdMatch(id: IdMatch, subsystem: IdMatch | null): string {
  return subsystem === null ? `id ${formatId(id.vendor, id.device)}` : `id ${formatId(id.vendor, id.device)} with subsystem ${formatId(subsystem.vendor, subsystem.device)}`;
}

/**
 * Duplicates and contradictions between entries, reported at the later one with the earlier one's line:
 * the same address twice; the same id (+ subsystem) twice among id-only entries; and an entry for a
 * function of a slot that another entry claims whole (functions = "all") for a different driver.
 */
function checkAcrossDevices(devices: CheckedDevice[], defaultDriver: string, report: Report): void {
  const byAddress = new Map<string, CheckedDevice>();
  const byId = new Map<string, CheckedDevice>();
  for (const device of devices) {
    const { entry } = device;
    if (entry.address !== null && device.addressNode !== null) {
      const first = byAddress.get(entry.address);
      if (first !== undefined) {
        report(device.addressNode, `device ${entry.address} is already configured by the [[device]] at line ${first.entry.source.line}; keep one of the two tables`);
      } else {
        byAddress.set(entry.address, device);
      }
    } else if (entry.id !== null && device.idNode !== null) {
      const key = describeIdMatch(entry.id, entry.subsystem);
      const first = byId.get(key);
      if (first !== undefined) {
        report(device.idNode, `${key} is already configured by the [[device]] at line ${first.entry.source.line}; keep one of the two tables`);
      } else {
        byId.set(key, device);
      }
    }
  }
  const driverOf = (e: DeviceEntry): string => e.driver ?? defaultDriver;
  const placed = devices.filter((d) => d.entry.address !== null && d.addressNode !== null);
  // Entries per slot, in file order: each entry is compared with the earlier ones of its own slot only.
  const bySlot = new Map<string, CheckedDevice[]>();
  for (const later of placed) {
    const laterAddress = later.entry.address ?? '';
    const slot = slotOf(laterAddress);
    const sameSlot = bySlot.get(slot) ?? [];
    bySlot.set(slot, [...sameSlot, later]);
    const earlier = sameSlot.find((e) => {
      const address = e.entry.address ?? '';
      return address !== laterAddress && slotOf(address) === slot && (e.entry.functions === 'all' || later.entry.functions === 'all') &&
        driverOf(e.entry) !== driverOf(later.entry);
    });
    if (earlier === undefined || later.addressNode === null) continue;
    const whole = earlier.entry.functions === 'all' ? earlier : later;
    const part = whole === earlier ? later : earlier;
    report(
      later.addressNode,
      `contradiction with the [[device]] at line ${earlier.entry.source.line}: ${whole.entry.address} takes every function of slot ${slot} ` +
        `(functions = "all") for "${driverOf(whole.entry)}", but ${part.entry.address} is configured for "${driverOf(part.entry)}"; ` +
        'give both the same driver or remove functions = "all"',
    );
  }
}
