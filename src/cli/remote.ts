import dbus from 'dbus-next';
import { EXIT } from './exit.js';
import type { CliOptions } from './main.js';
import { formatConfigError } from '../config/errors.js';
import { observe } from '../engine.js';
import { describeAction } from '../plan/describe.js';
import { emptyManager, readDirectly } from './direct.js';
import {
  deviceFromDbus, managerFromDbus, nagiosResult, oneLine, statusText, UNREACHABLE_TEXT, type StatusView, type Unreachable,
} from './status.js';
import { compareAddresses } from '../model.js';

type Print = (s: string) => void;

const NAME = 'org.pciepassthroughd';
const PATH = '/org/pciepassthroughd';
const MANAGER = 'org.pciepassthroughd.Manager1';
const DEVICE = 'org.pciepassthroughd.Device1';

export function connect(bus: string): dbus.MessageBus {
  if (bus === 'system') return dbus.systemBus();
  if (bus === 'session') return dbus.sessionBus();
  return dbus.sessionBus({ busAddress: bus });
}

type Props = Record<string, unknown>;
type VariantMap = Record<string, dbus.Variant>;
interface PropertiesProxy { GetAll(iface: string): Promise<VariantMap> }
interface ObjectManagerProxy { GetManagedObjects(): Promise<Record<string, Record<string, VariantMap>>> }
interface ManagerProxy { Reload(): Promise<void>; Reconcile(): Promise<[string, string, string][]> }

function plain(variants: VariantMap): Props {
  const out: Props = {};
  for (const [k, v] of Object.entries(variants)) out[k] = typeof v.value === 'bigint' ? Number(v.value) : v.value;
  return out;
}

/** Why a call did not reach the daemon: nobody owns the name, it did not reply, or there is no bus; null: another error. */
export function unreachable(e: unknown): Unreachable | null {
  const name = (e as { type?: string }).type ?? '';
  const code = (e as { code?: string }).code ?? '';
  if (['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTDIR', 'ECONNRESET', 'EPIPE'].includes(code)) return 'bus-unreachable';
  if (/ServiceUnknown|NameHasNoOwner/.test(name)) return 'not-running';
  if (/UnknownObject|UnknownMethod|NoReply|Timeout/.test(name)) return 'not-answering';
  return null;
}

function unavailable(e: unknown): boolean {
  return unreachable(e) !== null;
}

let busFailure: Promise<never> = new Promise<never>(() => undefined);

/** A call on the bus: rejects on a bus-level error (no socket, connection dropped) or after `ms`. */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(Object.assign(new Error(`${what} timed out after ${ms / 1000} s`), { type: 'NoReply' })), ms);
    busFailure.catch((e: unknown) => { clearTimeout(timer); reject(e); });
    p.then((v) => { clearTimeout(timer); resolve(v); }, (e: unknown) => { clearTimeout(timer); reject(e); });
  });
}

async function readStatus(bus: dbus.MessageBus): Promise<{ manager: Props; devices: Props[] }> {
  const obj = await bus.getProxyObject(NAME, PATH);
  const manager = plain(await (obj.getInterface('org.freedesktop.DBus.Properties') as unknown as PropertiesProxy).GetAll(MANAGER));
  const managed = await (obj.getInterface('org.freedesktop.DBus.ObjectManager') as unknown as ObjectManagerProxy).GetManagedObjects();
  const devices = Object.values(managed).flatMap((ifaces) => (ifaces[DEVICE] ? [plain(ifaces[DEVICE])] : []));
  devices.sort((a, b) => compareAddresses(String(a.Address), String(b.Address)));
  return { manager, devices };
}

/** Prints a status document; exit 0 ready, 1 degraded or starting, 2 failed; with --nagios the plugin's code. */
function printStatus(status: StatusView, opts: CliOptions, out: Print): number {
  if (opts.nagios) {
    const r = nagiosResult(status);
    out(r.line);
    return r.code;
  }
  out(opts.json ? JSON.stringify(status, null, 2) : statusText(status));
  const state = status.manager.state;
  return state === 'ready' ? EXIT.ok : state === 'failed' ? EXIT.failure : EXIT.warning;
}

export async function runDaemonCommand(command: 'status' | 'reload' | 'reconcile', opts: CliOptions, out: Print, err: Print): Promise<number> {
  let bus: dbus.MessageBus | null = null;
  try {
    bus = connect(opts.bus);
    const b = bus;
    busFailure = new Promise<never>((_, reject) => b.on('error', reject));
    if (command === 'status') {
      const [raw, local] = await Promise.all([withTimeout(readStatus(bus), 5000, 'asking the daemon'), observe(opts.root).catch(() => null)]);
      const byAddress = new Map((local?.devices ?? []).map((d) => [d.address, d]));
      const status: StatusView = {
        source: 'daemon', daemon: 'running', manager: managerFromDbus(raw.manager),
        devices: raw.devices.map((p) => deviceFromDbus(p, byAddress.get(String(p.Address)))),
      };
      return printStatus(status, opts, out);
    }
    const obj = await withTimeout(bus.getProxyObject(NAME, PATH), 5000, 'reaching the daemon');
    const manager = obj.getInterface(MANAGER) as unknown as ManagerProxy;
    if (command === 'reload') {
      await withTimeout(manager.Reload(), 60_000, 'Reload()');
      out('Reloaded.');
      return EXIT.ok;
    }
    const rows = await withTimeout(manager.Reconcile(), 300_000, 'Reconcile()');
    if (opts.json) out(JSON.stringify({ results: rows.map(([address, outcome, message]) => ({ address, outcome, message })) }, null, 2));
    else out(rows.length ? rows.map((r) => r[2]).join('\n') : 'Nothing to do.');
    return rows.some((r) => r[1] === 'failed') ? EXIT.warning : EXIT.ok;
  } catch (e) {
    const type = (e as { type?: string }).type ?? '';
    if (/AccessDenied/.test(type)) {
      err(`pcie-passthroughctl: ${command} needs root: ${(e as Error).message}`);
      return EXIT.noPermission;
    }
    if (!unavailable(e)) throw e;
    const why = unreachable(e) ?? 'not-answering';
    if (command !== 'status') {
      err(`pcie-passthroughctl: pcie-passthroughd is not running: ${UNREACHABLE_TEXT[why]} (${(e as Error).message}); start it with \`systemctl start pcie-passthroughd\``);
      return EXIT.unavailable;
    }
    if (opts.nagios) {
      const r = nagiosResult({ source: 'direct', daemon: why, manager: emptyManager(opts.config), devices: [] });
      out(`${r.line} (${oneLine((e as Error).message)})`);
      return r.code;
    }
    err(`pcie-passthroughctl: ${UNREACHABLE_TEXT[why]} (${(e as Error).message}); reading the devices directly.`);
    const direct = await readDirectly(opts);
    for (const c of direct.configErrors) err(formatConfigError(c));
    const status: StatusView = { source: 'direct', daemon: why, manager: direct.manager, devices: direct.devices };
    if (opts.json) out(JSON.stringify({ ...status, actions: direct.actions }, null, 2));
    else {
      out(statusText(status));
      if (direct.actions.length) out(`\nWould do now (the daemon does this when it runs; or \`pcie-passthroughctl apply\`):\n${direct.actions.map(describeAction).join('\n')}`);
    }
    return why === 'bus-unreachable' ? EXIT.unavailable : EXIT.notRunning;
  } finally {
    bus?.disconnect();
  }
}
