/**
 * pino 9 with a synchronous custom destination (no transports: they need worker threads and
 * thread-stream and cost RSS).
 *
 * - journal: under systemd, `<N>message key=value` lines on stdout; journald turns the prefix into
 *   the entry's priority, so `journalctl -u pcie-passthroughd -p warning` lists exactly the problems.
 * - json: pino's own JSON lines (the default when stdout is a file or pipe).
 * - pretty: a terse human line (the default on a terminal).
 */
import { fstatSync } from 'node:fs';
import { isatty } from 'node:tty';
import { pino, type Logger } from 'pino';
import { journalLine, prettyLine, type LogRecord } from './format.js';

export type { Logger } from 'pino';
export type LogFormat = 'auto' | 'journal' | 'json' | 'pretty';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface LoggerOptions {
  format?: LogFormat;
  /** pino level name; default "info". */
  level?: string;
  /** Where lines go (default: stdout). Tests pass a collector. */
  write?: (line: string) => void;
  /** Environment for the `auto` decision (default: process.env). */
  env?: Record<string, string | undefined>;
  /** File descriptor the output goes to, for the `auto` decision (default: 1). */
  fd?: number;
}

/**
 * systemd.exec(5): JOURNAL_STREAM is "device:inode" of the stream connected to the journal.
 * It is inherited by children whose stdout may point elsewhere, so compare it with our own fd.
 */
export function isJournalStream(env: Record<string, string | undefined>, fd: number): boolean {
  const value = env.JOURNAL_STREAM;
  if (!value) return false;
  try {
    const stat = fstatSync(fd, { bigint: true });
    return value === `${stat.dev}:${stat.ino}`;
  } catch {
    return false;
  }
}

export function resolveFormat(format: LogFormat, env: Record<string, string | undefined>, fd: number): Exclude<LogFormat, 'auto'> {
  if (format !== 'auto') return format;
  if (isJournalStream(env, fd)) return 'journal';
  return isatty(fd) ? 'pretty' : 'json';
}

let stdoutGuarded = false;

/**
 * Writes to stdout. A closed pipe (EPIPE, e.g. `pcie-passthroughd | head`) or a journald restart
 * must not crash the daemon; there is nowhere left to report it, so the error is dropped.
 */
function writeStdout(line: string): void {
  if (!stdoutGuarded) {
    stdoutGuarded = true;
    process.stdout.on('error', () => undefined);
  }
  process.stdout.write(line);
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new Error(`unknown log level "${level}": use one of ${LOG_LEVELS.join(', ')}`);
  }
  const format = resolveFormat(options.format ?? 'auto', options.env ?? process.env, options.fd ?? 1);
  const write = options.write ?? writeStdout;
  const render = format === 'journal' ? journalLine : format === 'pretty' ? prettyLine : null;
  const destination = {
    write(line: string): void {
      if (render === null) return write(line);
      let record: LogRecord;
      try {
        record = JSON.parse(line) as LogRecord;
      } catch {
        return write(line);
      }
      write(render(record));
    },
  };
  return pino(
    {
      level,
      base: undefined,
      // journald stamps each entry itself.
      timestamp: format !== 'journal',
    },
    destination,
  );
}
