/**
 * Reads of sysfs attributes whose show() takes the device lock — `driver_override`
 * (drivers/pci/pci-sysfs.c, since the CVE-2017-12146 fix) and `sriov_numvfs` (drivers/pci/iov.c).
 * unbind_store holds that lock through the driver's remove(), so while an unbind hangs (a busy GPU
 * driver) such a read blocks in the kernel, uninterruptibly. Done on the main thread, that silenced
 * D-Bus and SIGTERM for good. Here they run in a helper process, each bounded: a read that does not
 * return within the timeout gets the helper killed and abandoned, the device is reported as
 * `held`, and its locked attributes are not read again until that abandoned reader has exited (its
 * read returned). A fresh helper reads the rest.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Address } from '../model.js';

// `require('fs')` at call time, not a captured reference, so a fs shim loaded with --require applies.
const READER_SCRIPT = `const fs = require('fs');
const buf = Buffer.alloc(4096);
process.on('message', (m) => {
  for (let i = 0; i < m.files.length; i++) {
    let value = null;
    try {
      const fd = fs.openSync(m.files[i], 'r');
      try { value = buf.toString('latin1', 0, fs.readSync(fd, buf, 0, buf.length, 0)); } finally { fs.closeSync(fd); }
    } catch (e) { value = null; }
    process.send({ id: m.id, i, value });
  }
  process.send({ id: m.id, done: true });
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });`;

export interface LockedRead {
  address: Address;
  file: string;
}

export interface LockedReadResult {
  /** file → trimmed content, or null when unreadable (absent, or not read: see `held`). */
  values: Map<string, string | null>;
  /** Devices whose locked attributes could not be read: address → why. */
  held: Map<Address, string>;
}

export interface LockedReader {
  read(files: LockedRead[]): Promise<LockedReadResult>;
  stop(): void;
}

function childExecArgv(): string[] {
  return process.execArgv.filter((arg) => !/^--(inspect|debug)/.test(arg));
}

export function createLockedReader(opts: { timeoutMs?: number; startTimeoutMs?: number; idleMs?: number; env?: NodeJS.ProcessEnv } = {}): LockedReader {
  const timeoutMs = opts.timeoutMs ?? 2000;
  let child: ChildProcess | null = null;
  let nextId = 1;
  let idleTimer: NodeJS.Timeout | null = null;
  /** Devices with a reader stuck on them: address → why (removed when that reader exits). */
  const hung = new Map<Address, string>();

  const abandon = (c: ChildProcess) => {
    if (child === c) child = null;
    c.kill('SIGKILL');
    c.unref();
    (c.channel as { unref?: () => void } | undefined)?.unref?.();
    try {
      c.disconnect();
    } catch {
      // already gone
    }
  };

  const start = (): Promise<ChildProcess> => new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [...childExecArgv(), '-e', READER_SCRIPT], { env: opts.env ?? process.env, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    const timer = setTimeout(() => {
      abandon(c);
      reject(new Error(`the sysfs reader process did not start within ${(opts.startTimeoutMs ?? 120_000) / 1000}s`));
    }, opts.startTimeoutMs ?? 120_000);
    c.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.once('exit', () => {
      clearTimeout(timer);
      if (child === c) child = null;
      reject(new Error('the sysfs reader process exited before it was ready'));
    });
    c.once('message', () => {
      clearTimeout(timer);
      resolve(c);
    });
  });

  const idle = (c: ChildProcess) => {
    c.unref();
    (c.channel as { unref?: () => void } | undefined)?.unref?.();
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      if (child === c) abandon(c);
    }, opts.idleMs ?? 600_000);
    idleTimer.unref();
  };

  /** Reads `files` in `c` until done or one hangs; returns how many were answered. */
  const batch = (c: ChildProcess, files: LockedRead[], values: Map<string, string | null>): Promise<number> => new Promise((resolve) => {
    const id = nextId++;
    let answered = 0;
    let timer: NodeJS.Timeout;
    const finish = () => {
      clearTimeout(timer);
      c.off('message', onMessage);
      c.off('exit', onExit);
      resolve(answered);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(finish, timeoutMs);
    };
    const onMessage = (m: { id?: number; i?: number; value?: string | null; done?: boolean }) => {
      if (m.id !== id) return;
      if (m.done) {
        answered = files.length;
        finish();
        return;
      }
      const f = files[m.i ?? -1];
      if (f) values.set(f.file, m.value === null || m.value === undefined ? null : m.value.trim());
      answered = (m.i ?? 0) + 1;
      arm();
    };
    const onExit = () => finish();
    c.on('message', onMessage);
    c.on('exit', onExit);
    arm();
    c.ref();
    (c.channel as { ref?: () => void } | undefined)?.ref?.();
    c.send({ id, files: files.map((f) => f.file) });
  });

  return {
    async read(files) {
      const values = new Map<string, string | null>();
      const held = new Map<Address, string>();
      let queue = files.filter((f) => {
        const why = hung.get(f.address);
        if (why !== undefined) held.set(f.address, why);
        return why === undefined;
      });
      while (queue.length > 0) {
        let c: ChildProcess;
        try {
          c = child ?? (child = await start());
        } catch {
          // No helper (cannot spawn): nothing is read rather than risking the main thread.
          for (const f of queue) held.set(f.address, 'its attributes could not be read (no reader process)');
          break;
        }
        const answered = await batch(c, queue, values);
        if (answered >= queue.length) {
          idle(c);
          break;
        }
        // queue[answered] did not return: its device lock is held.
        const stuck = queue[answered]!;
        const name = stuck.file.slice(stuck.file.lastIndexOf('/') + 1);
        const why = `reading its ${name} did not return within ${(timeoutMs / 1000).toFixed(1)} s: the kernel holds its device lock (an unbind or probe of it is hanging); not read again until that read returns`;
        hung.set(stuck.address, why);
        held.set(stuck.address, why);
        c.once('exit', () => hung.delete(stuck.address));
        abandon(c);
        queue = queue.slice(answered + 1).filter((f) => f.address !== stuck.address);
      }
      return { values, held };
    },
    stop() {
      if (child) abandon(child);
    },
  };
}
