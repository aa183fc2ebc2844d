/**
 * Finds processes that a test run started and left behind: each carries the suite's marker in its
 * environment (inherited from the vitest process), which /proc/<pid>/environ shows to root.
 */
import { readdirSync, readFileSync } from 'node:fs';

export const SUITE_MARKER = 'PPD_TEST_SUITE';

export interface Leftover {
  pid: number;
  ppid: number;
  command: string;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return null;
  }
}

/** Processes whose environment has SUITE_MARKER=marker, except `exclude` and vitest's own workers. */
export function leftoverProcesses(marker: string, exclude: Set<number>): Leftover[] {
  const wanted = `${SUITE_MARKER}=${marker}`;
  const found: Leftover[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || exclude.has(pid)) continue;
    const environ = read(`/proc/${pid}/environ`);
    if (environ === null || !environ.split('\0').includes(wanted)) continue;
    const command = (read(`/proc/${pid}/cmdline`) ?? '').split('\0').filter(Boolean).join(' ');
    // vitest's worker processes end with the run; they are not ours to report.
    if (/node_modules\/(vitest|tinypool)\//.test(command)) continue;
    const stat = read(`/proc/${pid}/stat`) ?? '';
    // Field 4 (ppid) follows the parenthesised command, which may itself contain spaces.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    found.push({ pid, ppid, command: command || '?' });
  }
  return found.sort((a, b) => a.pid - b.pid);
}
