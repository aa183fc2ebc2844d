/**
 * Small tolerant file readers for facts gathering: a missing or unreadable file is a normal
 * answer (null / false / []), never an exception.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';

export async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export async function listDir(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch {
    return [];
  }
}

const CHUNK = 64 * 1024;

/** The file in 64 KiB pieces; stops early when the consumer breaks out. Throws when it cannot be read. */
async function* chunks(path: string, encoding: BufferEncoding): AsyncGenerator<string> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(CHUNK);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, null);
      if (bytesRead === 0) return;
      yield buffer.toString(encoding, 0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Reads from the start of a file until `stop` is seen (or end of file / `maxBytes`). /proc/cpuinfo
 * of a many-core host is hundreds of KB, but only its first processor block is needed.
 */
export async function readUntil(path: string, stop: string, maxBytes = 1024 * 1024): Promise<string | null> {
  let text = '';
  try {
    for await (const piece of chunks(path, 'utf8')) {
      text += piece;
      if (text.includes(stop) || text.length >= maxBytes) break;
    }
    return text;
  } catch {
    return null;
  }
}

/**
 * Whether a file contains `needle`, reading in chunks and stopping at the first hit
 * (/proc/interrupts has one column per CPU and runs to megabytes on large hosts).
 * null when the file cannot be read.
 */
export async function fileContains(path: string, needle: string): Promise<boolean | null> {
  let carry = '';
  try {
    for await (const piece of chunks(path, 'latin1')) {
      const text = carry + piece;
      if (text.includes(needle)) return true;
      carry = needle.length > 1 ? text.slice(-(needle.length - 1)) : '';
    }
    return false;
  } catch {
    return null;
  }
}

interface CacheEntry<T> {
  mtimeMs: number;
  size: number;
  value: T;
}

const parsedCache = new Map<string, CacheEntry<unknown>>();

/**
 * Reads and parses a file that rarely changes (/boot/config-<release>, modules.builtin), reusing
 * the parsed value while its mtime and size stay the same: one stat per reconcile instead of a
 * 250 KB read.
 */
export async function readParsedCached<T>(path: string, parse: (text: string) => T): Promise<T | null> {
  let info;
  try {
    info = await stat(path);
  } catch {
    parsedCache.delete(path);
    return null;
  }
  const hit = parsedCache.get(path);
  if (hit && hit.mtimeMs === info.mtimeMs && hit.size === info.size) return hit.value as T;
  const text = await readText(path);
  if (text === null) return null;
  const value = parse(text);
  parsedCache.set(path, { mtimeMs: info.mtimeMs, size: info.size, value });
  return value;
}
