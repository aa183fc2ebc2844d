/**
 * The pcie-passthroughd D-Bus service: answers every method call to its objects itself (so none of
 * dbus-next's service-side bugs apply: read-only properties cannot be set, no stack traces reach
 * callers, one bad value cannot break GetAll), checks the caller's uid for root-only methods, and
 * turns each new PublishedState into the minimal set of signals.
 */
import { readFileSync } from 'node:fs';
import { Variant } from 'dbus-next';
import { openConnection, describeTarget, type BusConnection, type IncomingCall } from './connection.js';
import {
  ACCESS_DENIED, FAILED, INVALID_ARGS, LIMITS_EXCEEDED, PROPERTY_READ_ONLY, UNKNOWN_INTERFACE, UNKNOWN_METHOD, UNKNOWN_OBJECT,
  UNKNOWN_PROPERTY, toErrorReply,
} from './errors.js';
import {
  BUS_NAME, DEVICE_IFACE, INTROSPECTABLE_IFACE, MANAGER_IFACE, MANAGER_PATH, OBJECT_MANAGER_IFACE, PEER_IFACE,
  PROPERTIES_IFACE,
} from './names.js';
import { buildTable, diffTables, type BusEvent, type ObjectTable, type PropValues } from './published.js';
import { coerce, DEVICE1, introspectDocument, MANAGER1, OBJECT_MANAGER, type InterfaceSpec, type PropertySpec } from './schema.js';
import type { BusLog, BusService, PlanRow, PublishedState, StartBusOptions } from './types.js';

const SILENT: BusLog = { info() {}, warn() {}, error() {} };
const ROWS_SPEC: PropertySpec = { name: 'result', type: 'a(sss)', emits: 'true', fallback: [], doc: '' };
const ROOT_ONLY = new Set(['Reconcile', 'Reload']);
const PROPERTIES_SIGNATURES: Record<string, string | undefined> = { Get: 'ss', GetAll: 's', Set: 'ssv' };

/**
 * Plan() is open to every local user. Calls share one observation (the daemon's handler), but each
 * waiting call still holds its message: a connection may have this many unanswered at once, and all
 * callers together this many; beyond that the call is refused with LimitsExceeded at once.
 */
export const PLAN_LIMITS = { perConnection: 4, total: 512 } as const;

/** Child node names of `path` among the object paths (for Introspect, so `busctl tree` can walk). */
export function childNodes(path: string, objectPaths: Iterable<string>): string[] {
  const prefix = path === '/' ? '/' : `${path}/`;
  const names = new Set<string>();
  for (const p of objectPaths) {
    if (p.startsWith(prefix) && p !== path) names.add(p.slice(prefix.length).split('/')[0] as string);
  }
  return [...names].sort();
}

function readMachineId(): string | null {
  for (const file of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readFileSync(file, 'utf8').trim();
      if (/^[0-9a-f]{32}$/.test(id)) return id;
    } catch {
      // try the next one
    }
  }
  return null;
}

function variants(values: PropValues, spec: InterfaceSpec): Record<string, Variant> {
  const out: Record<string, Variant> = {};
  for (const p of spec.properties) out[p.name] = new Variant(p.type, values[p.name]);
  return out;
}

export async function startBusService(opts: StartBusOptions): Promise<BusService> {
  const log = opts.log ?? SILENT;
  const where = describeTarget(opts.bus);
  let reported = new Set<string>();
  const report = (problems: string[]) => {
    const now = new Set(problems);
    for (const p of now) if (!reported.has(p)) log.warn(`D-Bus: published a fallback value: ${p}`);
    reported = now;
  };

  const initial = buildTable(opts.initial);
  report(initial.problems);
  let table: ObjectTable = initial.table;

  const conn: BusConnection = await openConnection(opts.bus, log);

  const interfacesAt = (path: string): InterfaceSpec[] =>
    path === MANAGER_PATH ? [MANAGER1, OBJECT_MANAGER] : table.devices.has(path) ? [DEVICE1] : [];
  const valuesAt = (path: string, iface: string): PropValues | null =>
    path === MANAGER_PATH && iface === MANAGER_IFACE ? table.manager : iface === DEVICE_IFACE ? table.devices.get(path) ?? null : null;
  const objectPaths = () => [MANAGER_PATH, ...table.devices.keys()];

  const replyOrFail = (call: IncomingCall, signature: string, body: unknown[]) => {
    const err = conn.reply(call, signature, body);
    if (err) {
      log.error(`D-Bus: could not send the reply to ${call.iface}.${call.member}: ${err.message}`);
      conn.replyError(call, FAILED, `internal error: the reply to ${call.member} could not be encoded`);
    }
  };

  const callerUid = async (sender: string): Promise<number | null> => {
    if (!sender) return null;
    try {
      const [uid] = await conn.callBus('GetConnectionUnixUser', 's', [sender]);
      return typeof uid === 'number' ? uid : null;
    } catch {
      return null;
    }
  };

  /** Unanswered Plan() calls per sender (unique name). */
  const planWaiting = new Map<string, number>();
  let planWaitingTotal = 0;
  const hasOwner = async (name: string): Promise<boolean> => {
    try {
      const [owned] = await conn.callBus('NameHasOwner', 's', [name]);
      return owned !== false;
    } catch {
      return true; // cannot tell: answer it
    }
  };

  const runPlan = async (call: IncomingCall): Promise<void> => {
    const mine = planWaiting.get(call.sender) ?? 0;
    if (mine >= PLAN_LIMITS.perConnection || planWaitingTotal >= PLAN_LIMITS.total) {
      conn.replyError(call, LIMITS_EXCEEDED, mine >= PLAN_LIMITS.perConnection
        ? `Plan: at most ${PLAN_LIMITS.perConnection} calls per connection may wait at once; wait for the answers`
        : `Plan: ${PLAN_LIMITS.total} calls are already waiting; try again in a second`);
      return;
    }
    planWaiting.set(call.sender, mine + 1);
    planWaitingTotal++;
    try {
      // A caller that hung up while its call was queued on the bus gets no work done for it.
      if (!call.noReply && call.sender && !(await hasOwner(call.sender))) return;
      if (call.noReply) return;
      const rows = await opts.handlers.plan();
      const { value, problem } = coerce(ROWS_SPEC, rows);
      if (problem) log.warn(`D-Bus: Plan handler returned ${problem}`);
      replyOrFail(call, 'a(sss)', [value]);
    } catch (err) {
      const { name, message } = toErrorReply(err);
      if (name === FAILED) log.error(`D-Bus: Plan failed: ${err instanceof Error && err.stack ? err.stack : message}`);
      conn.replyError(call, name, message);
    } finally {
      planWaitingTotal--;
      const left = (planWaiting.get(call.sender) ?? 1) - 1;
      if (left > 0) planWaiting.set(call.sender, left);
      else planWaiting.delete(call.sender);
    }
  };

  const runManagerMethod = async (call: IncomingCall): Promise<void> => {
    if (call.member === 'Plan') {
      await runPlan(call);
      return;
    }
    if (ROOT_ONLY.has(call.member)) {
      const uid = await callerUid(call.sender);
      if (uid !== 0) {
        const who = uid === null ? 'a caller whose uid could not be determined' : `uid ${uid}`;
        log.warn(`D-Bus: refused ${call.member} from ${call.sender} (${who}): root only`);
        conn.replyError(call, ACCESS_DENIED, `${call.member} is root only; refused for ${who}`);
        return;
      }
    }
    try {
      if (call.member === 'Reload') {
        await opts.handlers.reload();
        replyOrFail(call, '', []);
        return;
      }
      const rows: PlanRow[] = await opts.handlers.reconcile();
      const { value, problem } = coerce(ROWS_SPEC, rows);
      if (problem) log.warn(`D-Bus: ${call.member} handler returned ${problem}`);
      replyOrFail(call, 'a(sss)', [value]);
    } catch (err) {
      const { name, message } = toErrorReply(err);
      if (name === FAILED) log.error(`D-Bus: ${call.member} failed: ${err instanceof Error && err.stack ? err.stack : message}`);
      conn.replyError(call, name, message);
    }
  };

  const handleProperties = (call: IncomingCall, specs: InterfaceSpec[]) => {
    const expected = PROPERTIES_SIGNATURES[call.member];
    if (expected === undefined) {
      conn.replyError(call, UNKNOWN_METHOD, `No method ${call.member} on interface ${PROPERTIES_IFACE}`);
      return;
    }
    if (call.signature !== expected) {
      conn.replyError(call, INVALID_ARGS, `${PROPERTIES_IFACE}.${call.member} takes signature "${expected}", got "${call.signature}"`);
      return;
    }
    const [ifaceName, propName] = call.body as [string, string];
    const candidates = ifaceName === '' ? specs : specs.filter((s) => s.name === ifaceName);
    if (candidates.length === 0) {
      conn.replyError(call, UNKNOWN_INTERFACE, `Object ${call.path} has no interface ${ifaceName}`);
      return;
    }
    if (call.member === 'GetAll') {
      const out: Record<string, Variant> = {};
      for (const spec of candidates) {
        const values = valuesAt(call.path, spec.name);
        if (values) Object.assign(out, variants(values, spec));
      }
      replyOrFail(call, 'a{sv}', [out]);
      return;
    }
    const spec = candidates.find((s) => s.properties.some((p) => p.name === propName));
    const prop = spec?.properties.find((p) => p.name === propName);
    const values = spec ? valuesAt(call.path, spec.name) : null;
    if (!spec || !prop || !values) {
      conn.replyError(call, UNKNOWN_PROPERTY, `No property ${propName} on interface ${ifaceName || '(any)'} of ${call.path}`);
    } else if (call.member === 'Set') {
      // Nothing is ever assigned: every property is read-only. Non-root callers hear AccessDenied
      // (what the bus policy answers them too, and what docs/dbus.md promises), root PropertyReadOnly.
      void callerUid(call.sender).then((uid) => {
        if (uid === 0) conn.replyError(call, PROPERTY_READ_ONLY, `Property ${spec.name}.${propName} is read-only`);
        else conn.replyError(call, ACCESS_DENIED, `Properties.Set is root only; refused for ${uid === null ? 'a caller whose uid could not be determined' : `uid ${uid}`} (and every property is read-only)`);
      });
    } else {
      replyOrFail(call, 'v', [new Variant(prop.type, values[propName])]);
    }
  };

  const handleCall = (call: IncomingCall) => {
    const { path, member, signature } = call;
    let iface = call.iface;
    const specs = interfacesAt(path);
    const children = childNodes(path, objectPaths());
    if (iface === '') {
      // No interface given: the spec lets the service pick; only our own methods are unambiguous.
      iface = specs.find((s) => s.methods.some((m) => m.name === member))?.name ?? '';
    }
    const peerOrIntrospect = (iface === INTROSPECTABLE_IFACE && member === 'Introspect') || (iface === PEER_IFACE && (member === 'Ping' || member === 'GetMachineId'));
    if (peerOrIntrospect && signature !== '') {
      conn.replyError(call, INVALID_ARGS, `${iface}.${member} takes no arguments, got signature "${signature}"`);
      return;
    }
    if (iface === INTROSPECTABLE_IFACE && member === 'Introspect') {
      if (specs.length === 0 && children.length === 0 && path !== '/') {
        conn.replyError(call, UNKNOWN_OBJECT, `No object at ${path}`);
      } else {
        replyOrFail(call, 's', [introspectDocument(specs, children)]);
      }
      return;
    }
    if (iface === PEER_IFACE && member === 'Ping') {
      replyOrFail(call, '', []);
      return;
    }
    if (iface === PEER_IFACE && member === 'GetMachineId') {
      const id = readMachineId();
      if (id) replyOrFail(call, 's', [id]);
      else conn.replyError(call, FAILED, 'no machine id: neither /etc/machine-id nor /var/lib/dbus/machine-id is readable');
      return;
    }
    if (specs.length === 0) {
      conn.replyError(call, UNKNOWN_OBJECT, `No object at ${path}`);
      return;
    }
    if (iface === PROPERTIES_IFACE) {
      handleProperties(call, specs);
      return;
    }
    const spec = specs.find((s) => s.name === iface);
    const method = spec?.methods.find((m) => m.name === member);
    if (!spec) {
      conn.replyError(call, UNKNOWN_INTERFACE, `Object ${path} has no interface ${iface || '(none)'}`);
    } else if (!method) {
      conn.replyError(call, UNKNOWN_METHOD, `No method ${member} on interface ${iface}`);
    } else if (signature !== method.in.map((a) => a.type).join('')) {
      conn.replyError(call, INVALID_ARGS, `${iface}.${member} takes no arguments, got signature "${signature}"`);
    } else if (iface === OBJECT_MANAGER_IFACE) {
      const objects: Record<string, Record<string, Record<string, Variant>>> = {};
      for (const [devPath, values] of table.devices) objects[devPath] = { [DEVICE_IFACE]: variants(values, DEVICE1) };
      replyOrFail(call, 'a{oa{sa{sv}}}', [objects]);
    } else {
      void runManagerMethod(call);
    }
  };

  conn.onCall((call) => {
    try {
      handleCall(call);
    } catch (err) {
      log.error(`D-Bus: internal error answering ${call.iface}.${call.member} on ${call.path}: ${err instanceof Error ? err.stack : String(err)}`);
      conn.replyError(call, FAILED, `internal error answering ${call.member}`);
    }
  });

  try {
    await conn.requestName(BUS_NAME, opts.requestNameRetryMs ?? 5000);
  } catch (err) {
    await conn.close();
    throw err;
  }
  log.info(`D-Bus: owning ${BUS_NAME} on ${where} as ${conn.uniqueName}`);

  const emit = (event: BusEvent): void => {
    let err: Error | null;
    if (event.kind === 'changed') {
      const values: Record<string, Variant> = {};
      const spec = event.iface === MANAGER_IFACE ? MANAGER1 : DEVICE1;
      for (const p of spec.properties) if (p.name in event.changed) values[p.name] = new Variant(p.type, event.changed[p.name]);
      err = conn.signal(event.path, PROPERTIES_IFACE, 'PropertiesChanged', 'sa{sv}as', [event.iface, values, []]);
    } else if (event.kind === 'added') {
      err = conn.signal(MANAGER_PATH, OBJECT_MANAGER_IFACE, 'InterfacesAdded', 'oa{sa{sv}}', [event.path, { [event.iface]: variants(event.props, DEVICE1) }]);
    } else {
      err = conn.signal(MANAGER_PATH, OBJECT_MANAGER_IFACE, 'InterfacesRemoved', 'oas', [event.path, [event.iface]]);
    }
    if (err) log.warn(`D-Bus: could not emit ${event.kind} signal for ${event.path}: ${err.message}`);
  };

  let closed = false;
  return {
    update(state: PublishedState) {
      const next = buildTable(state);
      report(next.problems);
      const events = diffTables(table, next.table);
      table = next.table; // before the signals, so a client reacting to one reads the new values
      if (!closed) for (const event of events) emit(event);
    },
    emitReconciled(changes: number, state: string) {
      if (closed) return;
      const count = coerce({ ...ROWS_SPEC, name: 'changes', type: 'u', fallback: 0 }, changes).value;
      const err = conn.signal(MANAGER_PATH, MANAGER_IFACE, 'Reconciled', 'us', [count, String(state).replace(/\0/g, '')]);
      if (err) log.warn(`D-Bus: could not emit Reconciled: ${err.message}`);
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await conn.releaseName(BUS_NAME);
      } catch {
        // the bus may already be gone; disconnecting is all that is left
      }
      await conn.close();
    },
    onLost(cb) {
      conn.onLost(cb);
    },
  };
}
