/**
 * Pure renderers for pino's JSON records: the journald line (`<N>message key=value…`) and a terse
 * human line for terminals. Messages are sentences; a `device` field (a PCI address) is put in
 * front of the message ("0000:01:00.0: bound to vfio-pci (was nvidia)") so every line about a
 * device starts with its address.
 */

export type LogRecord = Record<string, unknown>;

/** syslog priority per pino level (sd-daemon(3): <2> crit … <7> debug). */
const PRIORITY: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };
const LEVEL_NAME: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Keys pino adds that a journald/pretty line never repeats. */
const INTERNAL_KEYS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'device', 'v']);

export function priorityOf(level: unknown): number {
  return (typeof level === 'number' && PRIORITY[level]) || 6;
}

/** `device: message`, without repeating the address when the message already starts with it. */
export function messageOf(record: LogRecord): string {
  const msg = typeof record.msg === 'string' ? record.msg : '';
  const device = typeof record.device === 'string' ? record.device : '';
  if (!device || msg.startsWith(device)) return msg;
  return msg ? `${device}: ${msg}` : device;
}

function renderValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=\\]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null || value === undefined) return 'null';
  // pino's err serializer gives { type, message, stack }: the stack is too long for `systemctl status`.
  if (typeof value === 'object' && 'message' in value && 'stack' in value) {
    return renderValue(String((value as { message: unknown }).message));
  }
  return JSON.stringify(value);
}

/** ` key=value key2="two words"` for every field that is not pino's own, in insertion order. */
export function fieldsOf(record: LogRecord): string {
  let out = '';
  for (const [key, value] of Object.entries(record)) {
    if (INTERNAL_KEYS.has(key)) continue;
    out += ` ${key}=${renderValue(value)}`;
  }
  return out;
}

/** One journald stdout line: the `<N>` prefix sets PRIORITY= (SyslogLevelPrefix=yes, the default). */
export function journalLine(record: LogRecord): string {
  // A raw newline would start a new journal entry without a priority prefix.
  const text = (messageOf(record) + fieldsOf(record)).replace(/\r?\n/g, '\\n');
  return `<${priorityOf(record.level)}>${text}\n`;
}

function clock(time: unknown): string {
  const date = typeof time === 'number' ? new Date(time) : new Date();
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** `HH:MM:SS.mmm LEVEL message key=value` for a terminal. */
export function prettyLine(record: LogRecord): string {
  const level = (typeof record.level === 'number' && LEVEL_NAME[record.level]) || 'INFO';
  const text = (messageOf(record) + fieldsOf(record)).replace(/\r?\n/g, '\\n');
  return `${clock(record.time)} ${level.padEnd(5)} ${text}\n`;
}
