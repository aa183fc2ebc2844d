/**
 * check_schedule validation. node-cron's own validate() is too lenient to rely on alone: it accepts
 * "1-", "*\/1.5" or seven fields, and a zero step ("*\/0") makes it loop until Node aborts with a fatal
 * allocation error (node-cron 4.2.1) — so the expression is checked here first, strictly, and only a
 * well-formed one is handed to node-cron.
 */
import { validate as nodeCronAccepts } from 'node-cron';

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  /** Names allowed instead of numbers, index + offset = value. */
  names?: { list: readonly string[]; first: number };
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: { list: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'], first: 1 } },
  // 0 and 7 are both Sunday, as in crontab(5).
  { name: 'day of week', min: 0, max: 7, names: { list: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], first: 0 } },
];

const FORM = 'five fields "minute hour day-of-month month day-of-week", e.g. "*/5 * * * *" (every 5 minutes)';

function valueOf(text: string, field: FieldSpec): number | null {
  if (/^\d{1,2}$/.test(text)) return Number(text);
  const index = field.names?.list.indexOf(text.toLowerCase()) ?? -1;
  return index >= 0 && field.names !== undefined ? index + field.names.first : null;
}

function itemProblem(item: string, field: FieldSpec): string | null {
  const m = /^(\*|[^/*-]+(?:-[^/*-]+)?)(?:\/(.*))?$/.exec(item);
  if (m === null) return `"${item}" in the ${field.name} field is not a value, range (a-b), list (a,b) or step (*/n)`;
  const [, range = '', step] = m;
  let span = field.max - field.min + 1;
  if (range !== '*') {
    const [lowText = '', highText] = range.split('-');
    const low = valueOf(lowText, field);
    const high = highText === undefined ? low : valueOf(highText, field);
    for (const [text, value] of [[lowText, low], [highText, high]] as const) {
      if (text === undefined) continue;
      if (value === null || value < field.min || value > field.max) {
        return `"${text}" is not a valid ${field.name} (${field.min}-${field.max})`;
      }
    }
    if (low === null || high === null) return `"${range}" is not a valid ${field.name}`;
    if (low > high) return `range "${range}" in the ${field.name} field runs backwards; write the smaller value first`;
    if (step !== undefined && highText === undefined) {
      return `"${item}" in the ${field.name} field: a step needs "*" or a range before it, e.g. "${lowText}-${field.max}/${step}"`;
    }
    span = high - low + 1;
  }
  if (step !== undefined) {
    if (!/^\d+$/.test(step) || Number(step) < 1 || Number(step) > Math.max(span, 1)) {
      return `step "/${step}" in the ${field.name} field must be a whole number from 1 to ${span}`;
    }
  }
  return null;
}

/** null when `expression` is a usable schedule, otherwise what is wrong and the expected form. */
export function cronProblem(expression: string): string | null {
  const trimmed = expression.trim();
  if (trimmed.startsWith('@')) return `"${expression}": shortcuts like @hourly are not supported; write ${FORM}`;
  const parts = trimmed === '' ? [] : trimmed.split(/\s+/);
  if (parts.length !== FIELDS.length) {
    return `"${expression}" has ${parts.length} field${parts.length === 1 ? '' : 's'}; write ${FORM}`;
  }
  for (const [i, part] of parts.entries()) {
    const field = FIELDS[i];
    if (field === undefined) break;
    for (const item of part.split(',')) {
      const problem = itemProblem(item, field);
      if (problem !== null) return `${problem}; write ${FORM}`;
    }
  }
  // Everything above is stricter than node-cron; this keeps the two in agreement should it ever differ.
  if (!nodeCronAccepts(trimmed)) return `"${expression}" is not accepted by the scheduler; write ${FORM}`;
  return null;
}
