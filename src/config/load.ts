/**
 * The thin imperative shell around parseConfig: read the file under a root, map I/O failures to errors.
 * Reads are bounded: only a regular file is read (a FIFO or device would block or never end), at most
 * MAX_CONFIG_BYTES, and it must be UTF-8 (TOML requires it); parsing runs off the main thread.
 */
import { constants, promises as fsp } from 'node:fs';
import { DEFAULT_DAEMON_SETTINGS } from '../model.js';
import type { Config } from '../model.js';
import { under } from '../paths.js';
import type { ConfigError } from './errors.js';
import { invalidUtf8Offset, MAX_CONFIG_BYTES, positionOfByte } from './limits.js';
import { parseConfigOffThread } from './parse-off-thread.js';

export type LoadResult =
  /** `missing`: no file (defaults, no devices); `empty`: the file holds nothing but white space. */
  | { ok: true; config: Config; missing: boolean; empty: boolean }
  | { ok: false; errors: ConfigError[] };

/** What a host without a config file gets: the documented defaults and no devices. */
export function defaultConfig(path: string): Config {
  return { path, daemon: { ...DEFAULT_DAEMON_SETTINGS }, devices: [] };
}

function unreadable(code: string | undefined, detail: string): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'cannot read the config file: permission denied; make it readable by the daemon (root), e.g. chmod 0644';
    case 'EISDIR':
      return 'is a directory; the config must be a TOML file at this path';
    case 'ENOTDIR':
      return 'a component of this path is not a directory; the config must be a TOML file at this path';
    case 'ELOOP':
      return 'is a symbolic link loop; point it at a regular TOML file';
    default:
      return `cannot read the config file (${detail}); check that it is a readable regular file`;
  }
}

function kindOf(stat: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

const whole = (file: string, message: string): ConfigError => ({ file, line: 0, column: 0, message });

type ReadResult = { ok: true; bytes: Buffer } | { ok: false; missing: true } | { ok: false; missing: false; error: ConfigError };

/** Reads a regular file of at most MAX_CONFIG_BYTES without ever blocking on what it is (FIFO, device). */
export async function readBounded(file: string, shownAs: string): Promise<ReadResult> {
  let handle: fsp.FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, for ever.
    handle = await fsp.open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') return { ok: false, missing: true };
    return { ok: false, missing: false, error: whole(shownAs, unreadable(err.code, err.code ?? String(err.message))) };
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) return { ok: false, missing: false, error: whole(shownAs, unreadable('EISDIR', 'EISDIR')) };
    if (!stat.isFile()) {
      return { ok: false, missing: false, error: whole(shownAs, `is ${kindOf(stat)}, not a regular file; the config must be a TOML file (a symlink to one is fine)`) };
    }
    if (stat.size > MAX_CONFIG_BYTES) {
      return { ok: false, missing: false, error: whole(shownAs, `is ${stat.size} bytes; the limit is ${MAX_CONFIG_BYTES} bytes (1 MiB) — is this the right file?`) };
    }
    // Read one byte more than allowed: a file that grows while being read is caught too.
    const buffer = Buffer.alloc(Math.min(MAX_CONFIG_BYTES + 1, Math.max(stat.size + 1, 4096)));
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) {
        if (length > MAX_CONFIG_BYTES) {
          return { ok: false, missing: false, error: whole(shownAs, `grew past the limit of ${MAX_CONFIG_BYTES} bytes (1 MiB) while being read`) };
        }
        break;
      }
    }
    return { ok: true, bytes: buffer.subarray(0, length) };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { ok: false, missing: false, error: whole(shownAs, unreadable(err.code, err.code ?? String(err.message))) };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Reads and validates `path` (an absolute path such as /etc/pcie-passthroughd/config.toml, resolved under
 * `root`). Errors name `path` as the admin knows it. A missing file is not an error: no devices, defaults.
 */
export async function loadConfig(path: string, root: string): Promise<LoadResult> {
  const read = await readBounded(under(root, path), path);
  if (!read.ok) return read.missing ? { ok: true, config: defaultConfig(path), missing: true, empty: false } : { ok: false, errors: [read.error] };
  const bad = invalidUtf8Offset(read.bytes);
  if (bad !== null) {
    const at = positionOfByte(read.bytes, bad);
    return { ok: false, errors: [{ file: path, ...at, message: `invalid UTF-8 (byte 0x${read.bytes[bad]!.toString(16).padStart(2, '0')} at offset ${bad}); TOML files must be UTF-8 — re-save it as UTF-8` }] };
  }
  const text = read.bytes.toString('utf8');
  const parsed = await parseConfigOffThread(text, path);
  return parsed.ok ? { ok: true, config: parsed.config, missing: false, empty: text.trim() === '' } : parsed;
}
