/**
 * GRUB's kernel arguments in /etc/default/grub (and /etc/default/grub.d/*.cfg, which grub-mkconfig
 * sources after it, so a later assignment there wins). The files are shell; only a plain one-line
 * assignment is edited: a value spanning lines or computed from variables or commands is refused.
 */

export type GrubVar = 'GRUB_CMDLINE_LINUX' | 'GRUB_CMDLINE_LINUX_DEFAULT';
export const GRUB_VARS: GrubVar[] = ['GRUB_CMDLINE_LINUX', 'GRUB_CMDLINE_LINUX_DEFAULT'];

export interface GrubAssignment {
  file: string;
  /** 0-based line index. */
  index: number;
  /** Text before the value: indentation, `export `, `NAME=`. */
  prefix: string;
  quote: '"' | "'" | '';
  value: string;
  /** Whatever followed the value on the line (spaces, a comment). */
  suffix: string;
}

export interface GrubRefusal {
  file: string;
  line: number;
  problem: string;
}

export type GrubLookup = { kind: 'found'; at: GrubAssignment } | { kind: 'absent' } | { kind: 'refused'; refusal: GrubRefusal };

const ASSIGN = (name: string): RegExp => new RegExp(`^(\\s*(?:export\\s+)?${name}=)(.*)$`);

/** Parses the value part of `NAME=<rest>`; a string describes why it cannot be edited. */
function parseValue(rest: string): Omit<GrubAssignment, 'file' | 'index' | 'prefix'> | string {
  const first = rest.charAt(0);
  if (first === '"' || first === "'") {
    const close = rest.indexOf(first, 1);
    if (close < 0) return 'spans several lines (the quote is not closed on this line)';
    const value = rest.slice(1, close);
    const suffix = rest.slice(close + 1);
    if (suffix !== '' && !/^\s*(#.*)?$/.test(suffix)) return 'is followed by more shell on the same line';
    if (first === '"' && /[$`\\]/.test(value)) return 'is computed by the shell ($, ` or \\ inside double quotes)';
    return { quote: first, value, suffix };
  }
  const bare = /^([^\s"'$`\\;&|<>()#]*)(\s*(#.*)?)$/.exec(rest);
  if (!bare) return 'is not a plain word or quoted string';
  return { quote: '', value: bare[1] ?? '', suffix: bare[2] ?? '' };
}

/** The assignment of `name` that wins: the last one in the last file (in sourcing order) that has one. */
export function findAssignment(files: { path: string; text: string }[], name: GrubVar): GrubLookup {
  const pattern = ASSIGN(name);
  for (let f = files.length - 1; f >= 0; f--) {
    const file = files[f] as { path: string; text: string };
    const lines = file.text.split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const m = pattern.exec(lines[i] ?? '');
      if (!m) continue;
      const parsed = parseValue(m[2] ?? '');
      if (typeof parsed === 'string') return { kind: 'refused', refusal: { file: file.path, line: i + 1, problem: `the value of ${name} ${parsed}` } };
      return { kind: 'found', at: { file: file.path, index: i, prefix: m[1] ?? '', ...parsed } };
    }
  }
  return { kind: 'absent' };
}

/** The line with a new value, in the original quoting when it can carry it. */
export function assignmentLine(at: Pick<GrubAssignment, 'prefix' | 'quote' | 'suffix'>, value: string): string {
  let quote = at.quote;
  if (quote === '' && /[\s"'$`\\;&|<>()#]/.test(value)) quote = '"';
  if (quote === '"' && /["$`\\]/.test(value)) quote = "'";
  return `${at.prefix}${quote}${value}${quote}${at.suffix}`;
}

/** A value the planner could not put into either quoting. */
export function quotable(value: string): boolean {
  return !(value.includes("'") && /["$`\\]/.test(value));
}
