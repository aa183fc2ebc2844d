/**
 * A problem in a configuration file, positioned so an admin can jump to it.
 * Line and column are 1-based; line 0 / column 0 mean "the file as a whole" (e.g. it cannot be read).
 */
export interface ConfigError {
  file: string;
  line: number;
  column: number;
  /** What is wrong and what to write instead. */
  message: string;
}

/** "FILE:LINE:COL: message", the form editors and `grep -n` users recognise; "FILE: message" for whole-file errors. */
export function formatConfigError(e: ConfigError): string {
  if (e.line <= 0) return `${e.file}: ${e.message}`;
  return `${e.file}:${e.line}:${e.column}: ${e.message}`;
}

export function byPosition(a: ConfigError, b: ConfigError): number {
  return a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column;
}
