/**
 * The bus connection: dbus-next used only as transport (socket, auth, marshalling), behind a small
 * typed interface. Detects loss of the bus, which dbus-next itself does not report (its MessageBus
 * never forwards the socket's end/close).
 */
import { Message, MessageType, MessageFlag, sessionBus, systemBus, type MessageBus } from 'dbus-next';
import type { BusLog, BusTarget } from './types.js';

export interface IncomingCall {
  sender: string;
  path: string;
  iface: string;
  member: string;
  signature: string;
  body: unknown[];
  /** The caller set NO_REPLY_EXPECTED. */
  noReply: boolean;
  raw: Message;
}

export interface BusConnection {
  readonly uniqueName: string;
  /** The single handler for every method call addressed to this connection. */
  onCall(handler: (call: IncomingCall) => void): void;
  /** Send a reply; returns an Error when the body could not be encoded or the bus is gone. */
  reply(call: IncomingCall, signature: string, body: unknown[]): Error | null;
  replyError(call: IncomingCall, name: string, message: string): void;
  signal(path: string, iface: string, member: string, signature: string, body: unknown[]): Error | null;
  /** Call a method of the bus itself (org.freedesktop.DBus). */
  callBus(member: string, signature: string, body: unknown[]): Promise<unknown[]>;
  requestName(name: string, retryMs: number): Promise<void>;
  releaseName(name: string): Promise<void>;
  onLost(cb: (err: Error) => void): void;
  close(): Promise<void>;
}

/** The dbus-next internals relied on (lib/bus.js, lib/connection.js of 0.10.2). */
interface BusInternals {
  _connection: { stream: NodeJS.EventEmitter & { destroyed?: boolean; destroy(): void } };
  name: string | null;
}

const REQUEST_NAME_DO_NOT_QUEUE = 4;
const REPLY_PRIMARY_OWNER = 1;
const REPLY_EXISTS = 3;
const REPLY_ALREADY_OWNER = 4;
const ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied';

export function describeTarget(target: BusTarget): string {
  if (typeof target === 'object') return target.address;
  if (target === 'system') return process.env.DBUS_SYSTEM_BUS_ADDRESS || 'unix:path=/var/run/dbus/system_bus_socket';
  return process.env.DBUS_SESSION_BUS_ADDRESS || 'the session bus';
}

function createBus(target: BusTarget): MessageBus {
  if (target === 'system') return systemBus();
  if (target === 'session') return sessionBus();
  return sessionBus({ busAddress: target.address });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function openConnection(target: BusTarget, log: BusLog, connectTimeoutMs = 10_000): Promise<BusConnection> {
  const where = describeTarget(target);
  let bus: MessageBus;
  try {
    bus = createBus(target);
  } catch (err) {
    throw new Error(`D-Bus: cannot connect to ${where}: ${(err as Error).message}`);
  }
  const internals = bus as unknown as BusInternals;
  const stream = internals._connection.stream;

  let connected = false;
  let closing = false;
  let lostError: Error | null = null;
  let lossReported = false; // a deliberate close() is not a loss
  const lostCallbacks: ((err: Error) => void)[] = [];
  // dbus-next never settles a call whose reply can no longer arrive: race every call against this.
  let rejectPending: (err: Error) => void = () => {};
  const gone = new Promise<never>((_, reject) => (rejectPending = reject));
  gone.catch(() => {});

  const markLost = (err: Error) => {
    if (lostError) return;
    lostError = err;
    rejectPending(err);
    if (closing) return;
    lossReported = true;
    if (connected) log.error(`D-Bus: ${err.message}`);
    for (const cb of lostCallbacks) cb(err);
  };

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`D-Bus: no answer from ${where} within ${connectTimeoutMs} ms (is dbus running?)`));
      stream.destroy();
    }, connectTimeoutMs);
    bus.on('connect', () => {
      clearTimeout(timer);
      connected = true;
      resolve();
    });
    // Always listened to: an unhandled 'error' event would throw out of the event loop.
    bus.on('error', (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      if (!connected) {
        clearTimeout(timer);
        reject(new Error(`D-Bus: cannot connect to ${where}: ${message} (is dbus running?)`));
        return;
      }
      if (!closing) log.warn(`D-Bus: connection error: ${message}`);
    });
    stream.on('close', () => {
      if (!connected) {
        clearTimeout(timer);
        reject(new Error(`D-Bus: ${where} closed the connection during authentication`));
      }
      markLost(new Error(`connection to the bus ${where} was lost`));
    });
  });

  const send = (msg: Message): Error | null => {
    if (lostError) return lostError;
    try {
      bus.send(msg);
      return null;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  };

  const callBus = async (member: string, signature: string, body: unknown[]): Promise<unknown[]> => {
    if (lostError) throw lostError;
    const reply = await Promise.race([gone, bus.call(
      new Message({
        destination: 'org.freedesktop.DBus',
        path: '/org/freedesktop/DBus',
        interface: 'org.freedesktop.DBus',
        member,
        signature,
        body,
      }),
    )]);
    return reply?.body ?? [];
  };

  return {
    get uniqueName() {
      return internals.name ?? '';
    },
    onCall(handler) {
      bus.addMethodHandler((msg: Message) => {
        if (msg.type !== MessageType.METHOD_CALL) return false;
        handler({
          sender: msg.sender ?? '',
          path: msg.path ?? '',
          iface: msg.interface ?? '',
          member: msg.member ?? '',
          signature: msg.signature ?? '',
          body: msg.body ?? [],
          noReply: ((msg.flags as number) & (MessageFlag.NO_REPLY_EXPECTED as number)) !== 0,
          raw: msg,
        });
        return true; // every call to us is answered by the handler, never by dbus-next's own
      });
    },
    reply(call, signature, body) {
      if (call.noReply) return null;
      return send(Message.newMethodReturn(call.raw, signature, body));
    },
    replyError(call, name, message) {
      if (call.noReply) return;
      const err = send(Message.newError(call.raw as unknown as string, name, message));
      if (err && !lostError) log.warn(`D-Bus: could not send error reply ${name}: ${err.message}`);
    },
    signal(path, iface, member, signature, body) {
      return send(Message.newSignal(path, iface, member, signature, body));
    },
    callBus,
    async requestName(name, retryMs) {
      const deadline = Date.now() + retryMs;
      let warned = false;
      for (;;) {
        try {
          const [reply] = await callBus('RequestName', 'su', [name, REQUEST_NAME_DO_NOT_QUEUE]);
          if (reply === REPLY_PRIMARY_OWNER || reply === REPLY_ALREADY_OWNER) return;
          if (reply === REPLY_EXISTS) {
            throw new Error(`D-Bus: the name ${name} is already owned by another process on ${where}; is another pcie-passthroughd running?`);
          }
          throw new Error(`D-Bus: RequestName(${name}) answered ${String(reply)}, expected primary ownership`);
        } catch (err) {
          const type = (err as { type?: unknown }).type;
          if (type !== ACCESS_DENIED) throw err;
          if (Date.now() >= deadline) {
            throw new Error(
              `D-Bus: not allowed to own ${name} on ${where}: install org.pciepassthroughd.conf into /usr/share/dbus-1/system.d/ and run as root (${(err as Error).message})`,
            );
          }
          if (!warned) {
            log.warn(`D-Bus: not allowed to own ${name} yet; retrying for up to ${retryMs} ms (the bus policy may still be being installed)`);
            warned = true;
          }
          await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
        }
      }
    },
    async releaseName(name) {
      await callBus('ReleaseName', 's', [name]);
    },
    onLost(cb) {
      lostCallbacks.push(cb);
      if (lossReported && lostError) cb(lostError);
    },
    async close() {
      if (closing) return;
      closing = true;
      if (stream.destroyed) return;
      const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
      bus.disconnect();
      const timer = setTimeout(() => stream.destroy(), 1000);
      await closed;
      clearTimeout(timer);
    },
  };
}
