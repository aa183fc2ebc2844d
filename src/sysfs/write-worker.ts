/**
 * A helper process that performs the sysfs writes that can block forever in the kernel (an unbind
 * while a GPU driver is busy, a probe). Node's own fs calls run on libuv's 4-thread pool, so one such
 * write would park a thread for good; a separate process can be abandoned instead. The process is
 * started once and reused: starting Node costs 50 ms on a host but seconds under emulation, and that
 * start must not eat into the write's timeout. A write that outlives its timeout gets the process
 * killed and abandoned (a task stuck in the kernel dies when its write returns); the next write starts
 * a fresh one. When idle it neither keeps the parent alive nor lingers (it exits on disconnect or idle).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { withParentDeathSignal } from '../lifetime.js';

// `require('fs')` at call time, not a captured reference, so a fs shim loaded with --require applies.
const WORKER_SCRIPT = `const fs = require('fs');
process.on('message', (m) => {
  let code = null;
  try { fs.writeFileSync(m.path, m.value); } catch (e) { code = String((e && e.code) || 'EIO'); }
  process.send({ id: m.id, code });
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });`;

export class WorkerWriteError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** Flags of this process that must not reach the child (debuggers would fight over the port). */
function childExecArgv(): string[] {
  return process.execArgv.filter((arg) => !/^--(inspect|debug)/.test(arg));
}

export class WriteWorker {
  private child: ChildProcess | null = null;
  private starting: Promise<ChildProcess> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: { startTimeoutMs?: number; idleMs?: number } = {}) {}

  /** Writes `value` to `path`; rejects with the kernel's errno name, or ETIMEDOUT after `timeoutMs`. */
  async write(path: string, value: string, timeoutMs: number): Promise<void> {
    const child = await this.ensure();
    this.setBusy(child, true);
    const id = this.nextId++;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.abandon(child);
        reject(new WorkerWriteError('ETIMEDOUT', `hung for ${(timeoutMs / 1000).toFixed(1)}s`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      child.send({ id, path, value }, (err) => {
        if (err) this.fail(id, new WorkerWriteError('EIO', `cannot reach the writer process: ${err.message}`));
      });
    }).finally(() => {
      if (this.child === child && this.pending.size === 0) this.setBusy(child, false);
    });
  }

  /** Stops the process (tests, shutdown). */
  stop(): void {
    if (this.child) this.abandon(this.child);
  }

  private fail(id: number, err: Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.reject(err);
  }

  private ensure(): Promise<ChildProcess> {
    if (this.child) return Promise.resolve(this.child);
    this.starting ??= this.start().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private start(): Promise<ChildProcess> {
    const startTimeoutMs = this.opts.startTimeoutMs ?? 120_000;
    return new Promise((resolve, reject) => {
      // A helper busy in a write (a hung unbind) cannot see its IPC channel close: the parent-death
      // signal ends it when the daemon dies, as soon as the kernel lets the write return.
      const [file, ...args] = withParentDeathSignal([process.execPath, ...childExecArgv(), '-e', WORKER_SCRIPT]) as [string, ...string[]];
      const child = spawn(file, args, { env: process.env, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new WorkerWriteError('EIO', `the writer process did not start within ${startTimeoutMs / 1000}s`));
      }, startTimeoutMs);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new WorkerWriteError('EIO', `cannot start the writer process (${process.execPath}): ${err.message}`));
      });
      child.on('message', (m: { ready?: boolean; id?: number; code?: string | null }) => {
        if (m.ready) {
          clearTimeout(timer);
          this.child = child;
          resolve(child);
          return;
        }
        if (m.id === undefined) return;
        if (m.code) {
          this.fail(m.id, new WorkerWriteError(m.code, m.code));
          return;
        }
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        p.resolve();
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (this.child === child) this.child = null;
        for (const id of [...this.pending.keys()]) this.fail(id, new WorkerWriteError('EIO', `the writer process exited (${signal ?? code})`));
        reject(new WorkerWriteError('EIO', `the writer process exited before it was ready (${signal ?? code})`));
      });
    });
  }

  /** While a write is pending the process keeps us alive; when idle it must not, and it ends after idleMs. */
  private setBusy(child: ChildProcess, busy: boolean): void {
    const channel = child.channel as { ref?: () => void; unref?: () => void } | undefined;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (busy) {
      child.ref();
      channel?.ref?.();
      return;
    }
    child.unref();
    channel?.unref?.();
    this.idleTimer = setTimeout(() => {
      if (this.child === child && this.pending.size === 0) this.abandon(child);
    }, this.opts.idleMs ?? 60_000);
    this.idleTimer.unref();
  }

  private abandon(child: ChildProcess): void {
    if (this.child === child) this.child = null;
    child.kill('SIGKILL');
    child.unref();
    (child.channel as { unref?: () => void } | undefined)?.unref?.();
    try {
      child.disconnect();
    } catch {
      // already disconnected
    }
  }
}
