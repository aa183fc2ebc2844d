/**
 * Watches the config file through its directory: editors and config management replace the file
 * by rename (new inode), `cp` rewrites it in place, admins rm and recreate it. chokidar's
 * `atomic` turns an unlink followed by an add within 100 ms into one 'change', and
 * `awaitWriteFinish` holds the event until the size/mtime stop moving, so a save is reported once,
 * after the last byte. Other files in the directory (editor swap files, backups) are ignored.
 */
import { watch } from 'chokidar';
import { dirname, resolve } from 'node:path';

export type ConfigChange = 'change' | 'unlink';

export interface ConfigWatcher {
  /** Resolves once the initial scan is done: saves after this are reported. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export interface ConfigWatchOptions {
  /** How long the file must stay unchanged before a save is reported (default 200 ms). */
  stabilityMs?: number;
  /** Watcher failures (e.g. inotify limit reached); default: ignored after being passed here. */
  onError?: (error: Error) => void;
}

export function watchConfigFile(
  path: string,
  onChange: (kind: ConfigChange) => void,
  options: ConfigWatchOptions = {},
): ConfigWatcher {
  const file = resolve(path);
  const dir = dirname(file);
  const stabilityMs = options.stabilityMs ?? 200;
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
  watcher.on('error', (error) => options.onError?.(error instanceof Error ? error : new Error(String(error))));
  const ready = new Promise<void>((resolveReady) => watcher.once('ready', () => resolveReady()));
  return { ready, close: () => watcher.close() };
}
