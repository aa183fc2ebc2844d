import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatConfigError, loadConfig } from '../../src/config/index.js';
import { DEFAULT_DAEMON_SETTINGS } from '../../src/model.js';
import { DEFAULT_CONFIG_PATH } from '../../src/paths.js';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ppd-config-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function writeConfig(text: string): Promise<string> {
  const file = join(root, DEFAULT_CONFIG_PATH);
  await mkdir(join(root, '/etc/pcie-passthroughd'), { recursive: true });
  await writeFile(file, text);
  return file;
}

/** Runs `fn` unable to read root-only files: as "nobody" when we are root (root ignores file modes). */
async function withoutRoot<T>(fn: () => Promise<T>): Promise<T> {
  if (process.getuid?.() !== 0 || process.seteuid === undefined) return fn();
  process.seteuid(65534);
  try {
    return await fn();
  } finally {
    process.seteuid(0);
  }
}

describe('loadConfig', () => {
  it('a missing file is fine: defaults, no devices, missing = true', async () => {
    const loaded = await loadConfig(DEFAULT_CONFIG_PATH, root);
    expect(loaded).toEqual({ ok: true, missing: true, empty: false, config: { path: DEFAULT_CONFIG_PATH, daemon: DEFAULT_DAEMON_SETTINGS, devices: [] } });
  });

  it('reads the file under the root and names it by its path on the host', async () => {
    await writeConfig('[daemon]\non_remove = "keep"\n\n[[device]]\naddress = "01:00.0"\n');
    const loaded = await loadConfig(DEFAULT_CONFIG_PATH, root);
    if (!loaded.ok) throw new Error(loaded.errors.map(formatConfigError).join('\n'));
    expect(loaded.missing).toBe(false);
    expect(loaded.config.path).toBe(DEFAULT_CONFIG_PATH);
    expect(loaded.config.daemon.onRemove).toBe('keep');
    expect(loaded.config.devices.map((d) => [d.address, d.source])).toEqual([
      ['0000:01:00.0', { file: DEFAULT_CONFIG_PATH, line: 4, column: 1 }],
    ]);
  });

  it('an invalid file gives every error with the host path', async () => {
    await writeConfig('[daemon]\nrequire_iommu = "no"\n[[device]]\naddress = "1:0.0"\n');
    const loaded = await loadConfig(DEFAULT_CONFIG_PATH, root);
    expect(loaded.ok).toBe(false);
    if (loaded.ok) return;
    expect(loaded.errors.map(formatConfigError)).toEqual([
      `${DEFAULT_CONFIG_PATH}:2:17: require_iommu must be true or false (without quotes), not the string "no"`,
      expect.stringMatching(new RegExp(`^${DEFAULT_CONFIG_PATH.replace(/\./g, '\\.')}:4:11: address: "1:0\\.0" is not a PCI address`)),
    ]);
  });

  it('a directory where the file should be is an error naming the file', async () => {
    await mkdir(join(root, DEFAULT_CONFIG_PATH), { recursive: true });
    const loaded = await loadConfig(DEFAULT_CONFIG_PATH, root);
    expect(loaded).toEqual({ ok: false, errors: [{ file: DEFAULT_CONFIG_PATH, line: 0, column: 0, message: expect.stringContaining('is a directory') }] });
    if (!loaded.ok && loaded.errors[0]) {
      expect(formatConfigError(loaded.errors[0])).toBe(`${DEFAULT_CONFIG_PATH}: is a directory; the config must be a TOML file at this path`);
    }
  });

  it('an unreadable file is an error naming the file, not "missing"', async () => {
    const file = await writeConfig('[daemon]\n');
    await chmod(root, 0o755);
    await chmod(join(root, 'etc'), 0o755);
    await chmod(file, 0o600);
    if (process.getuid?.() !== 0) await chmod(file, 0o000);
    const loaded = await withoutRoot(() => loadConfig(DEFAULT_CONFIG_PATH, root));
    expect(loaded).toEqual({ ok: false, errors: [{ file: DEFAULT_CONFIG_PATH, line: 0, column: 0, message: expect.stringContaining('permission denied') }] });
  });

  it('a path component that is a file is an error, not "missing"', async () => {
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc/pcie-passthroughd'), 'not a directory');
    const loaded = await loadConfig(DEFAULT_CONFIG_PATH, root);
    expect(loaded.ok).toBe(false);
  });
});
