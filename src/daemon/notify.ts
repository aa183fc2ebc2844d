/**
 * sd_notify(3) for Node. Node cannot send on an AF_UNIX datagram socket (nodejs/node#30059), so the
 * message goes through `systemd-notify`, which is installed wherever systemd is. systemd-notify
 * (252) sends the fields, then a BARRIER=1 datagram carrying a pipe fd and waits (up to 5 s) until
 * the manager closes it, so the message is processed before the short-lived child exits — which
 * matters because, without CAP_SYS_ADMIN, the datagram's sender PID is systemd-notify's own and
 * the unit needs NotifyAccess=all.
 */
import { execa } from 'execa';

export interface NotifyFields {
  /** READY=1: start-up finished (send after the first reconcile). */
  ready?: boolean;
  /** STATUS=: one line shown by `systemctl status`. */
  status?: string;
  /** STOPPING=1: shutting down. */
  stopping?: boolean;
  /** RELOADING=1 (with MONOTONIC_USEC=, as systemd ≥ 253 wants); send ready again when done. */
  reloading?: boolean;
}

export interface NotifyOptions {
  /** Environment to read NOTIFY_SOCKET from (default: process.env). */
  env?: Record<string, string | undefined>;
  /** The systemd-notify executable (default: found on PATH). */
  command?: string;
  /** Kill systemd-notify after this long (default 10 s; its own barrier wait is 5 s). */
  timeoutMs?: number;
}

/** CLOCK_MONOTONIC in µs: libuv's hrtime reads CLOCK_MONOTONIC on Linux. */
function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/** The `VAR=VALUE` arguments for systemd-notify, in sd_notify's order. Pure. */
export function notifyAssignments(fields: NotifyFields, nowUsec: bigint = monotonicUsec()): string[] {
  const out: string[] = [];
  if (fields.reloading) out.push('RELOADING=1', `MONOTONIC_USEC=${nowUsec}`);
  if (fields.stopping) out.push('STOPPING=1');
  if (fields.ready) out.push('READY=1');
  if (fields.status !== undefined) out.push(`STATUS=${singleLine(fields.status)}`);
  return out;
}

/** sd_notify's STATUS= is a single line; collapse anything that would break it. */
function singleLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').trim();
}

/**
 * Sends the fields to the service manager. Resolves false without doing anything when
 * NOTIFY_SOCKET is unset (not started by systemd, or Type= is not notify), true once sent.
 * Rejects with an Error that says what failed (missing systemd-notify, unreachable socket,
 * manager that did not answer the barrier).
 */
export async function sdNotify(fields: NotifyFields, options: NotifyOptions = {}): Promise<boolean> {
  const env = options.env ?? process.env;
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return false;
  const assignments = notifyAssignments(fields);
  if (assignments.length === 0) return false;
  const command = options.command ?? 'systemd-notify';
  const result = await execa(command, assignments, {
    env: { NOTIFY_SOCKET: socket },
    extendEnv: true,
    stdin: 'ignore',
    reject: false,
    timeout: options.timeoutMs ?? 10_000,
  });
  if (!result.failed) return true;
  const detail =
    result.code === 'ENOENT'
      ? `${command} not found: install systemd (systemd-notify) or run without NOTIFY_SOCKET`
      : result.timedOut
        ? `${command} did not finish in ${options.timeoutMs ?? 10_000} ms`
        : String(result.stderr || result.shortMessage).trim();
  throw new Error(`sd_notify ${assignments.join(' ')} to NOTIFY_SOCKET=${socket} failed: ${detail}`);
}
