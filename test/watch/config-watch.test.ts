import { execa } from 'execa';
import { mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { watchConfigFile, type ConfigChange, type ConfigWatcher } from '../../src/watch/config-watch.js';

const STABILITY_MS = 100;
/** After the last expected event, this long without another one counts as "exactly one". */
const QUIET_MS = STABILITY_MS * 4;

interface Seen {
  kind: ConfigChange;
  /** File content when the callback ran (null: absent). */
  content: string | null;
}

let dir: string;
let file: string;
let watcher: ConfigWatcher | null;
let seen: Seen[];
let waiters: (() => void)[];

function read(): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

async function startWatching(stabilityMs = STABILITY_MS): Promise<void> {
  watcher = watchConfigFile(
    file,
    (kind) => {
      seen.push({ kind, content: read() });
      const pending = waiters;
      waiters = [];
      for (const w of pending) w();
    },
    { stabilityMs },
  );
  await watcher.ready;
}

/** Waits until `count` callbacks have been seen in total. */
function eventsSeen(count: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => (seen.length >= count ? resolve() : void waiters.push(check));
    check();
  });
}

const quiet = (ms = QUIET_MS): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ppd-cfgwatch-'));
  file = join(dir, 'config.toml');
  writeFileSync(file, 'version = 0\n');
  seen = [];
  waiters = [];
  watcher = null;
});

afterEach(async () => {
  await watcher?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('watchConfigFile: one callback per save, after the write finished', () => {
  it('in-place write', async () => {
    await startWatching();
    writeFileSync(file, 'version = 1\n');
    await eventsSeen(1);
    await quiet();
    expect(seen).toEqual([{ kind: 'change', content: 'version = 1\n' }]);
  });

  it('atomic save: write a temporary file, rename it over the config', async () => {
    await startWatching();
    const tmp = join(dir, '.config.toml.tmp123');
    writeFileSync(tmp, 'version = 2\n');
    renameSync(tmp, file);
    await eventsSeen(1);
    await quiet();
    expect(seen).toEqual([{ kind: 'change', content: 'version = 2\n' }]);
  });

  it('cp over the config', async () => {
    await startWatching();
    const source = join(dir, 'new-config.toml.in');
    writeFileSync(source, 'version = 3\n');
    await execa('cp', [source, file]);
    await eventsSeen(1);
    await quiet();
    expect(seen).toEqual([{ kind: 'change', content: 'version = 3\n' }]);
  });

  it('vim-style save: keep a backup by rename, write a new file, drop the backup', async () => {
    await startWatching();
    writeFileSync(join(dir, '.config.toml.swp'), 'swap');
    renameSync(file, `${file}~`);
    writeFileSync(file, 'version = 4\n');
    unlinkSync(`${file}~`);
    await eventsSeen(1);
    await quiet();
    expect(seen).toEqual([{ kind: 'change', content: 'version = 4\n' }]);
  });

  it('rm, then recreate later: unlink, then change', async () => {
    await startWatching();
    unlinkSync(file);
    await eventsSeen(1);
    writeFileSync(file, 'version = 5\n');
    await eventsSeen(2);
    await quiet();
    expect(seen).toEqual([
      { kind: 'unlink', content: null },
      { kind: 'change', content: 'version = 5\n' },
    ]);
  });

  it('a writer that writes in two chunks is reported once, with the whole file', async () => {
    await startWatching(400);
    const fd = openSync(file, 'w');
    writeSync(fd, '[daemon]\n');
    await quiet(40);
    writeSync(fd, 'driver = "vfio-pci"\n');
    closeSync(fd);
    await eventsSeen(1);
    await quiet(1000);
    expect(seen).toEqual([{ kind: 'change', content: '[daemon]\ndriver = "vfio-pci"\n' }]);
  });

  it('ignores other files in the directory', async () => {
    await startWatching();
    writeFileSync(join(dir, 'other.toml'), 'x = 1\n');
    writeFileSync(join(dir, 'config.toml.dpkg-dist'), 'x = 1\n');
    unlinkSync(join(dir, 'other.toml'));
    writeFileSync(file, 'version = 6\n');
    await eventsSeen(1);
    await quiet();
    expect(seen).toEqual([{ kind: 'change', content: 'version = 6\n' }]);
  });

  it('the directory deleted and created again: the watcher is re-armed and sees every later edit', async () => {
    const sub = join(dir, 'pcie-passthroughd');
    mkdirSync(sub);
    file = join(sub, 'config.toml');
    writeFileSync(file, 'version = 0\n');
    await startWatching();
    rmSync(sub, { recursive: true });
    await eventsSeen(1);
    mkdirSync(sub);
    writeFileSync(file, 'version = 1\n');
    await eventsSeen(2);
    for (let v = 2; v <= 4; v++) {
      writeFileSync(file, `version = ${v}\n`);
      await eventsSeen(v + 1);
    }
    expect(seen[0]).toEqual({ kind: 'unlink', content: null });
    expect(seen.slice(1).every((s) => s.kind === 'change')).toBe(true);
    expect(seen.at(-1)?.content).toBe('version = 4\n');
  });

  it('reports nothing after close()', async () => {
    await startWatching();
    await watcher!.close();
    watcher = null;
    writeFileSync(file, 'version = 7\n');
    await quiet();
    expect(seen).toEqual([]);
  });
});
