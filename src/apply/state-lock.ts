/**
 * One writer at a time (issue 11, item 7): the daemon's reconcile and `pcie-passthroughctl apply` both
 * act on sysfs and rewrite state.json. Each takes this lock around observe → act → write, and re-reads
 * state.json under it, so neither acts on a stale view nor drops the other's ownership records.
 *
 * The lock is a file created with O_EXCL holding the owner's pid, its start time (/proc/PID/stat field
 * 22, so a reused pid is not mistaken for the owner) and who it is. Waiting polls with timers: the
 * daemon's event loop (D-Bus) keeps running while it waits.
 */
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { STATE_LOCK_FILE, under } from '../paths.js';

export interface LockHolder {
  pid: number;
  startTime: string;
  who: string;
}

export interface LockOptions {
  /** Give up after this long (the caller reports it; nothing was done). */
  timeoutMs?: number;
  /** Called once when the lock is busy, with who holds it (so a caller can say what it waits for). */
  onWait?: (holder: LockHolder | null) => void;
  pollMs?: number;
}

export class StateLockTimeout extends Error {}

export const DEFAULT_LOCK_TIMEOUT_MS = 120_000;

/** This process's start time in clock ticks since boot, '' when /proc cannot tell. */
function startTimeOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

/** Pure: the lock file's text. */
export function lockText(holder: LockHolder): string {
  return `${holder.pid} ${holder.startTime || '-'} ${holder.who}\n`;
}

/** Pure: a lock file's holder, or null when the text is not one (a writer between create and write). */
export function parseLockText(text: string): LockHolder | null {
  const m = /^(\d+) (\S+) (.*)\n$/.exec(text);
  if (!m) return null;
  return { pid: Number(m[1]), startTime: m[2] === '-' ? '' : m[2]!, who: m[3]! };
}

function isAlive(holder: LockHolder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = startTimeOf(holder.pid);
  return holder.startTime === '' || now === '' || now === holder.startTime;
}

export function describeHolder(holder: LockHolder | null): string {
  return holder ? `${holder.who} (pid ${holder.pid})` : 'another process';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function tryCreate(path: string, text: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
  return true;
}

async function readHolder(path: string): Promise<{ text: string; holder: LockHolder | null } | null> {
  try {
    const text = await readFile(path, 'utf8');
    return { text, holder: parseLockText(text) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Runs `fn` holding the state lock under `root`; `who` names this writer to a waiting one. A lock left
 * by a process that is gone (killed mid-apply) is taken over. Rejects with StateLockTimeout when a live
 * holder keeps it past the timeout.
 */
export async function withStateLock<T>(root: string, who: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const path = under(root, STATE_LOCK_FILE);
  await mkdir(dirname(path), { recursive: true });
  const me: LockHolder = { pid: process.pid, startTime: startTimeOf(process.pid), who };
  const mine = lockText(me);
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  let told = false;
  let unreadableSince: number | null = null;
  for (;;) {
    if (await tryCreate(path, mine)) break;
    const seen = await readHolder(path);
    if (seen === null) continue; // released in between
    // A holder that is gone left it behind; a text that stays unparsable is a crash between create and write.
    const unparsable = seen.holder === null && unreadableSince !== null && Date.now() - unreadableSince > 2000;
    if (seen.holder === null) unreadableSince ??= Date.now();
    if ((seen.holder !== null && !isAlive(seen.holder)) || unparsable) {
      const again = await readHolder(path);
      if (again?.text === seen.text) await unlink(path).catch(() => undefined);
      continue;
    }
    if (!told) {
      told = true;
      opts.onWait?.(seen.holder);
    }
    if (Date.now() > deadline) {
      throw new StateLockTimeout(`${path} is held by ${describeHolder(seen.holder)} for more than ${Math.round((opts.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS) / 1000)} s; nothing was done`);
    }
    await sleep(opts.pollMs ?? 50);
  }
  try {
    return await fn();
  } finally {
    const now = await readHolder(path).catch(() => null);
    if (now?.text === mine) await unlink(path).catch(() => undefined);
  }
}
