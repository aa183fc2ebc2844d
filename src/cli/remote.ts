import dbus from 'dbus-next';
import { EXIT } from './exit.js';
import type { CliOptions } from './main.js';
import { runLocalCommand } from './local.js';
import { table } from './text.js';
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

/** Names under which the bus says "nobody owns that name" (daemon stopped) or "no bus at all". */
function unavailable(e: unknown): boolean {
  const name = (e as { type?: string }).type ?? '';
  const code = (e as { code?: string }).code ?? '';
  return /ServiceUnknown|NameHasNoOwner|UnknownObject|NoReply/.test(name) || ['ENOENT', 'ECONNREFUSED', 'EACCES'].includes(code);
}

let busFailure: Promise<never> = new Promise<never>(() => undefined);

/** A call on the bus: rejects on a bus-level error (no socket, connection dropped) or after `ms`. */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    busFailure.catch(reject);
    const timer = setTimeout(() => reject(Object.assign(new Error(`${what} timed out after ${ms / 1000} s`), { type: 'NoReply' })), ms);
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

function healthRows(d: Props): [string, string, string][] {
  return Array.isArray(d.Health) ? (d.Health as [string, string, string][]) : [];
}

/** Same words as `list`: the methods, "none" when the kernel cannot reset it, "disabled" when emptied. */
function resetText(d: Props): string {
  if (d.Resettable === false) return 'none';
  return typeof d.ResetMethod === 'string' && d.ResetMethod ? d.ResetMethod : '-';
}

function statusText(s: { manager: Props; devices: Props[] }): string {
  const m = s.manager;
  const lines = [
    `pcie-passthroughd ${String(m.Version)}: ${String(m.State)}`,
    `IOMMU: ${m.IommuEnabled ? `on (${String(m.IommuKind)}, ${String(m.IommuGroupCount)} groups)` : 'off'}; interrupt remapping: ${String(m.InterruptRemapping)}`,
    `Devices: ${String(m.BoundCount)}/${String(m.ManagedCount)} on their target driver`,
  ];
  if (m.ConfigError) lines.push(`Config error: ${String(m.ConfigError)}`);
  // Devices held for a VM (dropped from config, still open) belong here too.
  const managed = s.devices.filter((d) => d.Managed || d.OpenByVm === true);
  if (managed.length) {
    lines.push('', table(['ADDRESS', 'DRIVER', 'RESET', 'STATE', 'REASON'], managed.map((d) => [String(d.Address), String(d.Driver || '-'), resetText(d), `${String(d.State)}${d.OpenByVm === true ? ', open by a VM' : ''}`, String(d.Reason)])));
  }
  const findings = s.devices.flatMap((d) => healthRows(d).filter(([name, status]) => status !== 'pass' && !(name === 'config-space' && d.State === 'dead')).map(([name, status, message]) => `${String(d.Address)}: ${status}: ${name}: ${message}`));
  if (findings.length) lines.push('', ...findings);
  return lines.join('\n');
}

export async function runDaemonCommand(command: 'status' | 'reload' | 'reconcile', opts: CliOptions, out: Print, err: Print): Promise<number> {
  let bus: dbus.MessageBus | null = null;
  try {
    bus = connect(opts.bus);
    const b = bus;
    busFailure = new Promise<never>((_, reject) => b.on('error', reject));
    if (command === 'status') {
      const status = await withTimeout(readStatus(bus), 5000, 'asking the daemon');
      out(opts.json ? JSON.stringify(status, null, 2) : statusText(status));
      const state = String(status.manager.State);
      return state === 'ready' ? EXIT.ok : state === 'failed' ? EXIT.failure : EXIT.warning;
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
    if (command !== 'status') {
      err(`pcie-passthroughctl: pcie-passthroughd is not running (${(e as Error).message}); start it with \`systemctl start pcie-passthroughd\``);
      return EXIT.unavailable;
    }
    err(`pcie-passthroughd is not running (${(e as Error).message}); reading the devices directly instead.`);
    return runLocalCommand('plan', opts, out, err);
  } finally {
    bus?.disconnect();
  }
}
