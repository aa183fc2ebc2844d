/**
 * Issue 11, items 2 and 3: hostile config input is refused quickly with an error naming the file and,
 * where there is one, the line and column: non-regular files (FIFO, devices, also behind a symlink),
 * files over 1 MiB, invalid UTF-8, deep nesting, too many entries, giant strings.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatConfigError, loadConfig } from '../../src/config/index.js';
import { MAX_CONFIG_BYTES, MAX_DEVICE_ENTRIES, MAX_NESTING, MAX_STRING_CHARS, invalidUtf8Offset, prescanConfig } from '../../src/config/limits.js';
import { parseConfig } from '../../src/config/parse.js';
import { DEFAULT_CONFIG_PATH } from '../../src/paths.js';

let root: string;
const file = () => join(root, DEFAULT_CONFIG_PATH);

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'ppd-limits-'));
  mkdirSync(join(root, 'etc/pcie-passthroughd'), { recursive: true });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

async function problem(): Promise<string> {
  const loaded = await loadConfig(DEFAULT_CONFIG_PATH, root);
  if (loaded.ok) throw new Error('expected the config to be refused');
  return loaded.errors.map(formatConfigError).join('\n');
}

const entry = (i: number) => `[[device]]\naddress = "0000:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${((i >> 3) & 0x1f).toString(16).padStart(2, '0')}.${i & 7}"\n`;

describe('non-regular files are refused without being read', () => {
  it('a FIFO with no writer: refused at once (opening it would block for ever)', async () => {
    execFileSync('mkfifo', [file()]);
    expect(await problem()).toBe(`${DEFAULT_CONFIG_PATH}: is a FIFO (named pipe), not a regular file; the config must be a TOML file (a symlink to one is fine)`);
  });

  it('a symlink to a FIFO', async () => {
    execFileSync('mkfifo', [join(root, 'pipe')]);
    symlinkSync(join(root, 'pipe'), file());
    expect(await problem()).toMatch(/is a FIFO \(named pipe\), not a regular file/);
  });

  it('a symlink to /dev/urandom or /dev/zero (endless input)', async () => {
    for (const dev of ['/dev/urandom', '/dev/zero']) {
      rmSync(file(), { force: true });
      symlinkSync(dev, file());
      expect(await problem()).toMatch(/is a character device, not a regular file/);
    }
  });

  it('a symlink to a regular file is read', async () => {
    writeFileSync(join(root, 'real.toml'), entry(1));
    symlinkSync(join(root, 'real.toml'), file());
    const loaded = await loadConfig(DEFAULT_CONFIG_PATH, root);
    expect(loaded.ok && loaded.config.devices.length).toBe(1);
  });
});

describe('size and encoding', () => {
  it(`a file over ${MAX_CONFIG_BYTES} bytes is refused with its size`, async () => {
    writeFileSync(file(), '#'.repeat(MAX_CONFIG_BYTES + 1));
    expect(await problem()).toBe(`${DEFAULT_CONFIG_PATH}: is ${MAX_CONFIG_BYTES + 1} bytes; the limit is ${MAX_CONFIG_BYTES} bytes (1 MiB) — is this the right file?`);
  });

  it('a file of exactly the limit is read', async () => {
    const head = entry(1);
    writeFileSync(file(), head + '#'.repeat(MAX_CONFIG_BYTES - head.length - 1) + '\n');
    const loaded = await loadConfig(DEFAULT_CONFIG_PATH, root);
    expect(loaded.ok).toBe(true);
  });

  it('invalid UTF-8 is an error at its line and column', async () => {
    writeFileSync(file(), Buffer.concat([Buffer.from('[daemon]\ndriver = "vfiö'), Buffer.from([0xff, 0xfe]), Buffer.from('"\n')]));
    expect(await problem()).toBe(`${DEFAULT_CONFIG_PATH}:2:15: invalid UTF-8 (byte 0xff at offset 24); TOML files must be UTF-8 — re-save it as UTF-8`);
  });

  it('finds truncated sequences, overlong forms and surrogates', () => {
    expect(invalidUtf8Offset(Buffer.from('ok ✓'))).toBeNull();
    expect(invalidUtf8Offset(Buffer.from([0x61, 0xe2, 0x9c]))).toBe(1);
    expect(invalidUtf8Offset(Buffer.from([0x61, 0xc0, 0x80]))).toBe(1);
    expect(invalidUtf8Offset(Buffer.from([0xed, 0xa0, 0x80]))).toBe(0);
  });
});

describe('the shape of the text', () => {
  it('100k-deep arrays: an error with line:column, not a RangeError', () => {
    const r = parseConfig(`[daemon]\ndriver = ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, 'c.toml');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors).toEqual([{ file: 'c.toml', line: 2, column: 10 + MAX_NESTING, message: `arrays and inline tables nested deeper than ${MAX_NESTING} levels; a config needs at most 2` }]);
  });

  it('10k-deep inline tables: the same', () => {
    const r = parseConfig(`x = ${'{a = '.repeat(10_000)}1${'}'.repeat(10_000)}\n`, 'c.toml');
    expect(!r.ok && formatConfigError(r.errors[0]!)).toMatch(/^c\.toml:1:\d+: arrays and inline tables nested deeper than/);
  });

  it('brackets inside strings and comments do not count', () => {
    const text = `# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n[daemon]\ndriver = "${'['.repeat(100)}" # {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\n`;
    expect(prescanConfig(text, 'c.toml')).toBeNull();
  });

  it(`more than ${MAX_DEVICE_ENTRIES} entries: refused at the first one too many`, () => {
    const text = Array.from({ length: MAX_DEVICE_ENTRIES + 1 }, (_, i) => entry(i)).join('');
    const r = parseConfig(text, 'c.toml');
    expect(!r.ok && r.errors).toEqual([{ file: 'c.toml', line: 2 * MAX_DEVICE_ENTRIES + 1, column: 1, message: `more than ${MAX_DEVICE_ENTRIES} device entries (the limit); match many devices with one id = "vvvv:dddd" entry instead of one entry each` }]);
    expect(parseConfig(Array.from({ length: MAX_DEVICE_ENTRIES }, (_, i) => entry(i)).join(''), 'c.toml').ok).toBe(true);
  });

  it('entries as inline tables count too', () => {
    const text = `device = [${Array.from({ length: MAX_DEVICE_ENTRIES + 1 }, () => '{ id = "10de:1b80" }').join(', ')}]\n`;
    expect(prescanConfig(text, 'c.toml')?.message).toMatch(/more than 1024 device entries/);
  });

  it('a string longer than the limit is refused where it starts (the parser would overflow its stack)', () => {
    const r = parseConfig(`[daemon]\ndriver = "${'a'.repeat(1 << 20)}"\n`, 'c.toml');
    expect(!r.ok && r.errors).toEqual([{ file: 'c.toml', line: 2, column: 10, message: `string longer than ${MAX_STRING_CHARS} characters; no setting needs one this long — is this the right file?` }]);
  });

  it('multi-line strings and escapes are skipped correctly', () => {
    const text = `[daemon]\ncheck_schedule = """\n*/5 * * * *"""\ndriver = 'vfio-pci'\n# "unclosed in a comment\n[[device]]\naddress = "0000:01:00.0\\""\n`;
    expect(prescanConfig(text, 'c.toml')).toBeNull();
  });
});
