/**
 * Watches the config file through its directory: editors and config management replace the file
 * by rename (new inode), `cp` rewrites it in place, admins rm and recreate it. chokidar's
 * `atomic` turns an unlink followed by an add within 100 ms into one 'change', and
 * `awaitWriteFinish` holds the event until the size/mtime stop moving, so a save is reported once,
 * after the last byte (a writer that pauses for less than `stabilityMs` mid-file is not seen
 * half-way). Other files in the directory (editor swap files, backups) are ignored.
 *
 * An inotify watch dies with its directory, so the directory itself is watched too (through its
 * parent, and by a slow poll of its inode as a fallback): when it is deleted and created again the
 * watcher is re-armed and reports a 'change' (the file may already be there).
 */
import { watch, type FSWatcher } from 'chokidar';
import { statSync, watch as fsWatch, type FSWatcher as NodeWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

export type ConfigChange = 'change' | 'unlink';

export interface ConfigWatcher {
  /** Resolves once the initial scan is done: saves after this are reported. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export interface ConfigWatchOptions {
  /** How long the file must stay unchanged before a save is reported (default 1000 ms). */
  stabilityMs?: number;
  /** How often the directory's identity is checked when no event says it changed (default 2000 ms). */
  dirPollMs?: number;
  /** Watcher failures (e.g. inotify limit reached); default: ignored after being passed here. */
  onError?: (error: Error) => void;
  /** The directory was deleted or created again (for the log). */
  onDirectory?: (event: 'gone' | 'rearmed') => void;
}

function inodeOf(path: string): number | null {
  try {
    const st = statSync(path);
    return st.isDirectory() ? st.ino : null;
  } catch {
    return null;
  }
}

export function watchConfigFile(
  path: string,
  onChange: (kind: ConfigChange) => void,
  options: ConfigWatchOptions = {},
): ConfigWatcher {
  const file = resolve(path);
  const dir = dirname(file);
  const stabilityMs = options.stabilityMs ?? 1000;
  const fail = (error: unknown) => options.onError?.(error instanceof Error ? error : new Error(String(error)));
  let closed = false;

  const arm = (): { watcher: FSWatcher; ready: Promise<void> } => {
    const watcher = watch(dir, {
      ignoreInitial: true,
      depth: 0,
      ignored: (candidate: string) => {
        const p = resolve(candidate);
        return p !== dir && p !== file;
      },
      atomic: true,
      awaitWriteFinish: { stabilityThreshold: stabilityMs, pollInterval: Math.max(10, Math.min(50, stabilityMs / 4)) },
    });
    // A recreated file is a new version of the config, not a different kind of event.
    watcher.on('add', (p) => {
      if (resolve(p) === file) onChange('change');
    });
    watcher.on('change', (p) => {
      if (resolve(p) === file) onChange('change');
    });
    watcher.on('unlink', (p) => {
      if (resolve(p) === file) onChange('unlink');
    });
    watcher.on('error', fail);
    return { watcher, ready: new Promise<void>((resolveReady) => watcher.once('ready', () => resolveReady())) };
  };

  let current = arm();
  let dirInode = inodeOf(dir);

  const checkDirectory = (): void => {
    if (closed) return;
    const now = inodeOf(dir);
    if (now === dirInode) return;
    const was = dirInode;
    dirInode = now;
    if (now === null) {
      options.onDirectory?.('gone');
      if (was !== null) onChange('unlink');
      return;
    }
    // A new directory: the old watch is dead. Watch the new one, then look once: the file may have
    // been written before the watch was in place.
    const old = current.watcher;
    current = arm();
    void old.close().catch(fail);
    void current.ready.then(() => {
      if (closed) return;
      options.onDirectory?.('rearmed');
      onChange('change');
    });
  };

  let parentWatch: NodeWatcher | null = null;
  try {
    parentWatch = fsWatch(dirname(dir), { persistent: false }, (_event, name) => {
      if (name === null || name === basename(dir)) checkDirectory();
    });
    parentWatch.on('error', () => undefined); // the poll below still covers it
  } catch {
    // no parent to watch (or no inotify left): the poll covers it
  }
  const poll = setInterval(checkDirectory, options.dirPollMs ?? 2000);
  poll.unref();

  return {
    ready: current.ready,
    async close() {
      closed = true;
      clearInterval(poll);
      parentWatch?.close();
      await current.watcher.close();
    },
  };
}
