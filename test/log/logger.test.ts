import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, resolveFormat } from '../../src/log/logger.js';

function collect(format: 'journal' | 'json' | 'pretty', level = 'debug') {
  const lines: string[] = [];
  const log = createLogger({ format, level, write: (line) => lines.push(line) });
  return { log, lines };
}

describe('journal format', () => {
  it('maps pino levels to syslog priorities so `journalctl -p warning` shows exactly the problems', () => {
    const { log, lines } = collect('journal', 'trace');
    log.trace('t');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    log.fatal('f');
    expect(lines).toEqual(['<7>t\n', '<7>d\n', '<6>i\n', '<4>w\n', '<3>e\n', '<2>f\n']);
    const warningOrWorse = lines.filter((l) => Number(/^<(\d)>/.exec(l)?.[1]) <= 4);
    expect(warningOrWorse).toEqual(['<4>w\n', '<3>e\n', '<2>f\n']);
  });

  it('starts device lines with the address and appends the fields as key=value', () => {
    const { log, lines } = collect('journal');
    log.info({ device: '0000:01:00.0', from: 'nvidia', to: 'vfio-pci' }, 'bound to vfio-pci (was nvidia)');
    log.warn({ device: '0000:00:02.0', reason: 'boot VGA with active console' }, 'not binding');
    expect(lines).toEqual([
      '<6>0000:01:00.0: bound to vfio-pci (was nvidia) from=nvidia to=vfio-pci\n',
      '<4>0000:00:02.0: not binding reason="boot VGA with active console"\n',
    ]);
  });

  it('does not repeat an address the message already starts with', () => {
    const { log, lines } = collect('journal');
    log.info({ device: '0000:01:00.0' }, '0000:01:00.0: released to nouveau');
    expect(lines).toEqual(['<6>0000:01:00.0: released to nouveau\n']);
  });

  it('renders errors as their message, not a stack, and keeps each record on one line', () => {
    const { log, lines } = collect('journal');
    log.error({ err: new Error('write drivers_probe: ENODEV') }, 'probe failed\nretrying');
    expect(lines).toEqual(['<3>probe failed\\nretrying err="write drivers_probe: ENODEV"\n']);
    expect(lines[0]?.split('\n')).toHaveLength(2);
  });

  it('quotes values with spaces and renders numbers, booleans and lists', () => {
    const { log, lines } = collect('journal');
    log.info({ changes: 2, viable: false, group: [1, 2], path: '/etc/x y.toml' }, 'reconciled');
    expect(lines).toEqual(['<6>reconciled changes=2 viable=false group=[1,2] path="/etc/x y.toml"\n']);
  });

  it('drops records below the configured level', () => {
    const { log, lines } = collect('journal', 'warn');
    log.info('quiet');
    log.warn('loud');
    expect(lines).toEqual(['<4>loud\n']);
  });
});

describe('json and pretty formats', () => {
  it('json writes one parseable pino record per line with time and numeric level', () => {
    const { log, lines } = collect('json');
    log.warn({ device: '0000:01:00.0' }, 'hardware changed');
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(record).toMatchObject({ level: 40, device: '0000:01:00.0', msg: 'hardware changed' });
    expect(typeof record.time).toBe('number');
    expect(record).not.toHaveProperty('hostname');
  });

  it('pretty writes a terse time-stamped line', () => {
    const { log, lines } = collect('pretty');
    log.error({ device: '0000:02:00.0', driver: 'igb' }, 'unbind hung');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} ERROR 0000:02:00\.0: unbind hung driver=igb\n$/);
  });

  it('refuses an unknown level with the valid names', () => {
    expect(() => createLogger({ level: 'verbose', write: () => undefined })).toThrow(/unknown log level "verbose".*warn/);
  });
});

describe('auto format', () => {
  let dir: string;
  let fd: number;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ppd-log-'));
    fd = openSync(join(dir, 'stdout'), 'w');
  });
  afterAll(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });

  it('chooses journal only when JOURNAL_STREAM names the very stream we write to', () => {
    const stat = fstatSync(fd, { bigint: true });
    expect(resolveFormat('auto', { JOURNAL_STREAM: `${stat.dev}:${stat.ino}` }, fd)).toBe('journal');
    // Inherited from a parent whose output went elsewhere: not ours.
    expect(resolveFormat('auto', { JOURNAL_STREAM: `${stat.dev}:${stat.ino + 1n}` }, fd)).toBe('json');
    expect(resolveFormat('auto', {}, fd)).toBe('json');
  });

  it('writes journal lines when auto-detected', () => {
    const stat = fstatSync(fd, { bigint: true });
    const lines: string[] = [];
    const log = createLogger({ env: { JOURNAL_STREAM: `${stat.dev}:${stat.ino}` }, fd, write: (l) => lines.push(l) });
    log.warn({ device: '0000:03:00.0' }, 'IOMMU group not viable');
    expect(lines).toEqual(['<4>0000:03:00.0: IOMMU group not viable\n']);
  });

  it('an explicit format wins over detection', () => {
    expect(resolveFormat('pretty', {}, fd)).toBe('pretty');
  });
});
