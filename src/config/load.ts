/** The thin imperative shell around parseConfig: read the file under a root, map I/O failures to errors. */
import { readFile } from 'node:fs/promises';
import { DEFAULT_DAEMON_SETTINGS } from '../model.js';
import type { Config } from '../model.js';
import { under } from '../paths.js';
import type { ConfigError } from './errors.js';
import { parseConfig } from './parse.js';

export type LoadResult = { ok: true; config: Config; missing: boolean } | { ok: false; errors: ConfigError[] };

/** What a host without a config file gets: the documented defaults and no devices. */
export function defaultConfig(path: string): Config {
  return { path, daemon: { ...DEFAULT_DAEMON_SETTINGS }, devices: [] };
}

function unreadable(code: string | undefined, detail: string): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'cannot read the config file: permission denied; make it readable by the daemon (root), e.g. chmod 0644';
    case 'EISDIR':
      return 'is a directory; the config must be a TOML file at this path';
    case 'ENOTDIR':
      return 'a component of this path is not a directory; the config must be a TOML file at this path';
    default:
      return `cannot read the config file (${detail}); check that it is a readable regular file`;
  }
}

/**
 * Reads and validates `path` (an absolute path such as /etc/pcie-passthroughd/config.toml, resolved under
 * `root`). Errors name `path` as the admin knows it. A missing file is not an error: no devices, defaults.
 */
export async function loadConfig(path: string, root: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(under(root, path), 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') return { ok: true, config: defaultConfig(path), missing: true };
    return { ok: false, errors: [{ file: path, line: 0, column: 0, message: unreadable(err.code, err.code ?? String(err.message)) }] };
  }
  const parsed = parseConfig(text, path);
  return parsed.ok ? { ok: true, config: parsed.config, missing: false } : parsed;
}
