/** The node_exporter textfile: where it goes, and writing it so a scrape never sees half a file. */
import { randomBytes } from 'node:crypto';
import { stat, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { under } from '../paths.js';

/**
 * `metrics_textfile` of [daemon] (default: Debian's prometheus-node-exporter textfile directory): the file,
 * when its directory exists (node_exporter installed); "" means off. Returns the path, or null for none.
 */
export async function resolveTextfile(root: string, setting: string): Promise<string | null> {
  if (setting === '') return null;
  try {
    return (await stat(under(root, dirname(setting)))).isDirectory() ? setting : null;
  } catch {
    return null;
  }
}

/**
 * Writes beside the target, then rename(2)s over it: atomic within one filesystem, so node_exporter reads
 * either the old or the new text. The temporary name does not end in ".prom", which the collector skips.
 */
export async function writeTextfile(root: string, path: string, text: string): Promise<void> {
  const target = under(root, path);
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, target);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
