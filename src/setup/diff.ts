/**
 * Unified diff (diff -u format, 3 lines of context) of two small texts, for showing the edits
 * `setup` makes to configuration files. Files here are tens of lines, so a plain LCS table is enough.
 */

const CONTEXT = 3;
/** Above this many cells the LCS table is skipped and the whole file is shown as replaced. */
const MAX_CELLS = 4_000_000;

interface Lines {
  lines: string[];
  /** The text ends with a newline (the usual case); else diff prints "\ No newline at end of file". */
  finalNewline: boolean;
}

function splitLines(text: string | null): Lines {
  if (text === null || text === '') return { lines: [], finalNewline: true };
  const lines = text.split('\n');
  const finalNewline = lines[lines.length - 1] === '';
  if (finalNewline) lines.pop();
  return { lines, finalNewline };
}

type Op = { kind: ' ' | '-' | '+'; text: string; oldNo: number; newNo: number };

function editScript(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  if (n * m > MAX_CELLS) {
    return [
      ...a.map((text, i): Op => ({ kind: '-', text, oldNo: i, newNo: 0 })),
      ...b.map((text, j): Op => ({ kind: '+', text, oldNo: n, newNo: j })),
    ];
  }
  // lcs[i][j] = length of the LCS of a[i..] and b[j..], row-major in one array.
  const width = m + 1;
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * width + j] = a[i] === b[j] ? (lcs[(i + 1) * width + j + 1] ?? 0) + 1 : Math.max(lcs[(i + 1) * width + j] ?? 0, lcs[i * width + j + 1] ?? 0);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ kind: ' ', text: a[i] ?? '', oldNo: i++, newNo: j++ });
    } else if (j < m && (i >= n || (lcs[i * width + j + 1] ?? 0) >= (lcs[(i + 1) * width + j] ?? 0))) {
      ops.push({ kind: '+', text: b[j] ?? '', oldNo: i, newNo: j++ });
    } else {
      ops.push({ kind: '-', text: a[i] ?? '', oldNo: i++, newNo: j });
    }
  }
  // Show removals before additions within a change, as diff(1) does.
  return reorderChanges(ops);
}

function reorderChanges(ops: Op[]): Op[] {
  const out: Op[] = [];
  let k = 0;
  while (k < ops.length) {
    if (ops[k]?.kind === ' ') {
      out.push(ops[k++] as Op);
      continue;
    }
    const run: Op[] = [];
    while (k < ops.length && ops[k]?.kind !== ' ') run.push(ops[k++] as Op);
    out.push(...run.filter((o) => o.kind === '-'), ...run.filter((o) => o.kind === '+'));
  }
  return out;
}

const range = (start: number, count: number): string => (count === 1 ? `${start}` : `${start},${count}`);

/**
 * `--- label` / `+++ label` and the hunks; '' when the texts are equal. `before` null means the
 * file does not exist yet (shown against /dev/null).
 */
export function unifiedDiff(path: string, before: string | null, after: string): string {
  if (before === after) return '';
  const a = splitLines(before);
  const b = splitLines(after);
  const ops = editScript(a.lines, b.lines);
  // The last line's "no newline" marker counts as a difference of that line.
  if (a.finalNewline !== b.finalNewline) markLastLineChanged(ops, a.lines.length, b.lines.length);
  const changed = ops.map((o, idx) => (o.kind === ' ' ? -1 : idx)).filter((idx) => idx >= 0);
  if (changed.length === 0) return '';

  const hunks: [number, number][] = [];
  for (const idx of changed) {
    const start = Math.max(0, idx - CONTEXT);
    const end = Math.min(ops.length - 1, idx + CONTEXT);
    const last = hunks[hunks.length - 1];
    if (last && start <= last[1] + 1) last[1] = end;
    else hunks.push([start, end]);
  }

  const out = [`--- ${before === null ? '/dev/null' : path}`, `+++ ${path}`];
  for (const [start, end] of hunks) {
    const slice = ops.slice(start, end + 1);
    const first = slice[0] as Op;
    const firstOld = slice.find((o) => o.kind !== '+');
    const firstNew = slice.find((o) => o.kind !== '-');
    const oldCount = slice.filter((o) => o.kind !== '+').length;
    const newCount = slice.filter((o) => o.kind !== '-').length;
    // An empty range names the line before it (0 at the top of the file), as diff -u does.
    const oldStart = firstOld ? firstOld.oldNo + 1 : first.oldNo;
    const newStart = firstNew ? firstNew.newNo + 1 : first.newNo;
    out.push(`@@ -${range(oldStart, oldCount)} +${range(newStart, newCount)} @@`);
    for (const o of slice) {
      out.push(`${o.kind}${o.text}`);
      const lastOld = o.kind !== '+' && o.oldNo === a.lines.length - 1 && !a.finalNewline;
      const lastNew = o.kind !== '-' && o.newNo === b.lines.length - 1 && !b.finalNewline;
      if (lastOld || lastNew) out.push('\\ No newline at end of file');
    }
  }
  return out.join('\n') + '\n';
}

/** Turns an unchanged final line into "-line" / "+line" when only its trailing newline differs. */
function markLastLineChanged(ops: Op[], oldLen: number, newLen: number): void {
  const idx = ops.findIndex((o) => o.kind === ' ' && o.oldNo === oldLen - 1 && o.newNo === newLen - 1);
  if (idx < 0) return;
  const o = ops[idx] as Op;
  ops.splice(idx, 1, { kind: '-', text: o.text, oldNo: o.oldNo, newNo: o.newNo }, { kind: '+', text: o.text, oldNo: o.oldNo + 1, newNo: o.newNo });
}
