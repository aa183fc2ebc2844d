/**
 * What the daemon accepts as a config file, checked before the TOML parser sees it (issue 11, item 2):
 * the parser is recursive (deep nesting overflows the stack), spreads a whole string onto the stack, and
 * needs ~0.1 ms per entry, so unbounded input costs seconds and gigabytes. Pure: text in, problem out.
 */
import type { ConfigError } from './errors.js';

/** Largest config file read (a real one is a few KiB). */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Most device entries (`[[device]]` tables and inline tables) in one file. */
export const MAX_DEVICE_ENTRIES = 1024;
/** Deepest nesting of arrays and inline tables (a valid config needs 2). */
export const MAX_NESTING = 32;
/** Longest string value or quoted key (addresses, ids, cron lines are short). */
export const MAX_STRING_CHARS = 4096;

/** Byte offset of the first byte that is not valid UTF-8, or null when all of it is. */
export function invalidUtf8Offset(bytes: Uint8Array): number | null {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return null;
  } catch {
    // find where (only on the error path: the native check above is fast)
  }
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
    }
    // Overlong forms, surrogates and code points past U+10FFFF.
    const c1 = bytes[i + 1] ?? 0;
    if ((b === 0xe0 && c1 < 0xa0) || (b === 0xed && c1 > 0x9f) || (b === 0xf0 && c1 < 0x90) || (b === 0xf4 && c1 > 0x8f)) return i;
    i += need + 1;
  }
  return null;
}

/** 1-based line and column (in characters) of byte `offset` of a buffer whose bytes before it are valid UTF-8. */
export function positionOfByte(bytes: Uint8Array, offset: number): { line: number; column: number } {
  const before = Buffer.from(bytes.buffer, bytes.byteOffset, offset).toString('utf8');
  const lastNl = before.lastIndexOf('\n');
  return { line: before.split('\n').length, column: [...before.slice(lastNl + 1)].length + 1 };
}

const DEVICE_HEADER = /^\[\[[ \t]*(?:device|"device"|'device')[ \t]*\]\]/;

/**
 * One linear pass over the text that skips strings and comments: refuses nesting deeper than
 * MAX_NESTING, strings longer than MAX_STRING_CHARS and more than MAX_DEVICE_ENTRIES entries (an
 * upper bound: every `[[device]]` header and every inline table counts). Problems carry line:column.
 */
export function prescanConfig(text: string, file: string): ConfigError | null {
  let line = 1;
  let lineStart = 0;
  let depth = 0;
  let entries = 0;
  let atLineStart = true;
  const at = (i: number, message: string): ConfigError => ({ file, line, column: i - lineStart + 1, message });
  const n = text.length;
  let i = 0;
  while (i < n) {
    const ch = text[i]!;
    if (ch === '\n') {
      line++;
      lineStart = i + 1;
      atLineStart = true;
      i++;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r') {
      i++;
      continue;
    }
    const lineBegins = atLineStart;
    atLineStart = false;
    if (ch === '#') {
      const nl = text.indexOf('\n', i);
      i = nl === -1 ? n : nl;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const start = i;
      const startLine = line;
      const startCol = i - lineStart + 1;
      const multi = text.startsWith(ch.repeat(3), i);
      const close = multi ? ch.repeat(3) : ch;
      i += close.length;
      while (i < n) {
        const c = text[i]!;
        if (ch === '"' && c === '\\') {
          i += 2;
          continue;
        }
        if (c === '\n') {
          if (!multi) break; // unterminated: the parser reports it
          line++;
          lineStart = i + 1;
        }
        if (text.startsWith(close, i)) {
          i += close.length;
          // """a"""" : up to two more quotes belong to the string
          for (let extra = 0; multi && extra < 2 && text[i] === ch; extra++) i++;
          break;
        }
        i++;
        if (i - start > MAX_STRING_CHARS + 6) {
          return { file, line: startLine, column: startCol, message: `string longer than ${MAX_STRING_CHARS} characters; no setting needs one this long — is this the right file?` };
        }
      }
      continue;
    }
    if (ch === '[') {
      if (lineBegins && depth === 0) {
        // A table header: [table] or [[array-of-tables]] closes on its own line.
        if (DEVICE_HEADER.test(text.slice(i, i + 32)) && ++entries > MAX_DEVICE_ENTRIES) {
          return at(i, `more than ${MAX_DEVICE_ENTRIES} device entries (the limit); match many devices with one id = "vvvv:dddd" entry instead of one entry each`);
        }
        const nl = text.indexOf('\n', i);
        const end = nl === -1 ? n : nl;
        const hash = text.indexOf('#', i);
        i = hash !== -1 && hash < end ? hash : end;
        continue;
      }
      if (++depth > MAX_NESTING) return at(i, `arrays and inline tables nested deeper than ${MAX_NESTING} levels; a config needs at most 2`);
    } else if (ch === '{') {
      if (++depth > MAX_NESTING) return at(i, `arrays and inline tables nested deeper than ${MAX_NESTING} levels; a config needs at most 2`);
      if (++entries > MAX_DEVICE_ENTRIES) {
        return at(i, `more than ${MAX_DEVICE_ENTRIES} device entries (the limit); match many devices with one id = "vvvv:dddd" entry instead of one entry each`);
      }
    } else if (ch === ']' || ch === '}') {
      if (depth > 0) depth--;
    }
    i++;
  }
  return null;
}
