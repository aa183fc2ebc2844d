/** One journal line per guest check that appeared or changed (warning priority for problems), none when nothing did. */
import type { Check } from '../model.js';

export interface JournalLine {
  level: 'info' | 'warn';
  message: string;
}

const isGuestCheck = (c: Check): boolean => c.name.startsWith('guest');

/** Pure: what to log going from the last run's checks to this run's. */
export function guestCheckChanges(before: readonly Check[], after: readonly Check[]): JournalLine[] {
  const old = new Map(before.filter(isGuestCheck).map((c) => [c.name, c]));
  const lines: JournalLine[] = [];
  const now = new Set<string>();
  for (const c of after.filter(isGuestCheck)) {
    now.add(c.name);
    const p = old.get(c.name);
    if (p && p.status === c.status && p.message === c.message) continue;
    lines.push({ level: c.status === 'pass' ? 'info' : 'warn', message: `${c.status === 'pass' ? '' : `${c.status}: `}${c.message}` });
  }
  for (const [name, p] of old) {
    if (!now.has(name) && p.status !== 'pass') lines.push({ level: 'info', message: `resolved: ${p.message}` });
  }
  return lines;
}

/** The daemon's afterReconcile hook: remembers the last checks between runs. */
export function guestJournal(log: { info(m: string): void; warn(m: string): void }): (ctx: { result: { assessment: { report: { checks: Check[] } } } }) => void {
  let last: Check[] = [];
  return ({ result }) => {
    const checks = result.assessment.report.checks;
    for (const line of guestCheckChanges(last, checks)) log[line.level](line.message);
    last = checks;
  };
}
