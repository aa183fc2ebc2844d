/**
 * `apply` while the daemon runs (issue 11, item 7): two writers would fight over sysfs and state.json,
 * so apply asks the daemon to reconcile over D-Bus and acts itself only when no daemon answers. Asked on
 * the real host, or when --bus names a daemon's bus (tests): a daemon on the system bus works on /, not
 * on some --root DIR.
 */
import type dbus from 'dbus-next';
import { BUS_NAME, MANAGER_IFACE, MANAGER_PATH, PROPERTIES_IFACE } from '../dbus/names.js';
import { EXIT } from './exit.js';
import type { CliOptions } from './main.js';
import { connect, unreachable } from './remote.js';
import { UNREACHABLE_TEXT } from './status.js';

type Print = (s: string) => void;
type Row = [string, string, string];

interface ManagerProxy { Reconcile(): Promise<Row[]> }
interface PropertiesProxy { Get(iface: string, name: string): Promise<dbus.Variant> }

/** As long as `reconcile` waits: a reconcile that unbinds a busy device takes a while. */
const RECONCILE_TIMEOUT_MS = 300_000;
const REACH_TIMEOUT_MS = 5000;

/** A bus call that also fails when the connection does (no socket, dropped) or after `ms`. */
function bounded<T>(p: Promise<T>, failed: Promise<never>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} timed out after ${ms / 1000} s`), { type: 'NoReply' })), ms);
  });
  return Promise.race([p, failed, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Asks the running daemon to reconcile and prints what it did. Returns the exit code, or null when no
 * daemon answered (then the caller applies directly; a note on stderr says why).
 */
export async function applyThroughDaemon(opts: CliOptions, out: Print, err: Print): Promise<number | null> {
  const bus = connect(opts.bus);
  const failed = new Promise<never>((_, reject) => bus.on('error', reject));
  failed.catch(() => undefined);
  try {
    const obj = await bounded(bus.getProxyObject(BUS_NAME, MANAGER_PATH), failed, REACH_TIMEOUT_MS, 'reaching the daemon');
    const props = obj.getInterface(PROPERTIES_IFACE) as unknown as PropertiesProxy;
    const [configPath, configError] = await Promise.all(['ConfigPath', 'ConfigError'].map(async (name) =>
      String((await bounded(props.Get(MANAGER_IFACE, name), failed, REACH_TIMEOUT_MS, `reading ${name}`)).value)));
    if (opts.configGiven && configPath !== opts.config) {
      err(`pcie-passthroughctl: the running pcie-passthroughd applies ${configPath}, not ${opts.config}: it would undo an apply of another file. ` +
        `Edit ${configPath} (the daemon applies it), or stop the daemon first (systemctl stop pcie-passthroughd).`);
      return EXIT.failure;
    }
    const manager = obj.getInterface(MANAGER_IFACE) as unknown as ManagerProxy;
    const rows = await bounded(manager.Reconcile(), failed, RECONCILE_TIMEOUT_MS, 'Reconcile()');
    if (configError) {
      err(configError);
      err(`pcie-passthroughctl: ${configPath} is invalid: the daemon keeps its last good config in force`);
    }
    if (opts.json) {
      out(JSON.stringify({ via: 'daemon', configPath, configError: configError || null, results: rows.map(([address, outcome, message]) => ({ address, outcome, message })) }, null, 2));
    } else {
      out(`pcie-passthroughd is running: asked it to reconcile over D-Bus (Manager1.Reconcile; config ${configPath}).`);
      out(rows.length ? rows.map((r) => r[2]).join('\n') : 'Nothing to do.');
    }
    if (configError) return EXIT.failure;
    return rows.some((r) => r[1] === 'failed') ? EXIT.warning : EXIT.ok;
  } catch (e) {
    if (/AccessDenied/.test((e as { type?: string }).type ?? '')) {
      err(`pcie-passthroughctl: apply needs root: ${(e as Error).message}`);
      return EXIT.noPermission;
    }
    const why = unreachable(e);
    if (why === null) throw e;
    err(`pcie-passthroughctl: ${UNREACHABLE_TEXT[why]} (${(e as Error).message}): applying directly`);
    return null;
  } finally {
    bus.disconnect();
  }
}
