import { describe, expect, it } from 'vitest';
import { entriesFromModprobe } from '../../src/config/index.js';
import { scanHexFields } from '../../src/config/modprobe.js';
import { ANY_ID } from '../../src/model.js';
import type { DeviceEntry, ModprobeIdsLine } from '../../src/model.js';

const FILE = '/etc/modprobe.d/vfio.conf';
const line = (n: number, ...ids: string[]): ModprobeIdsLine => ({ file: FILE, line: n, ids });

function imported(id: [number, number], extra: Partial<DeviceEntry> = {}, at = 1): DeviceEntry {
  return {
    address: null, id: { vendor: id[0], device: id[1] }, subsystem: null, classMatch: null, functions: 'one',
    driver: 'vfio-pci', allowInUse: false, source: { file: FILE, line: at, column: 1 }, imported: true, ...extra,
  };
}

describe('entriesFromModprobe: well-formed ids', () => {
  it('reads vendor:device, the common how-to form (GPU + its audio function)', () => {
    const { entries, problems } = entriesFromModprobe([line(3, '10de:1b80', '10DE:10F0')]);
    expect(problems).toEqual([]);
    expect(entries).toEqual([imported([0x10de, 0x1b80], {}, 3), imported([0x10de, 0x10f0], {}, 3)]);
  });

  it('reads the subsystem, and treats ffffffff as "any" the way the kernel does', () => {
    const { entries, problems } = entriesFromModprobe([line(1, '8086:1533:8086:0001', '8086:1534:ffffffff:ffffffff', '8086:1535:1028')]);
    expect(problems).toEqual([]);
    expect(entries.map((e) => e.subsystem)).toEqual([{ vendor: 0x8086, device: 1 }, null, { vendor: 0x1028, device: ANY_ID }]);
  });

  it('reads class:class_mask', () => {
    const { entries, problems } = entriesFromModprobe([line(1, '1002:67df:ffffffff:ffffffff:030000:ffff00')]);
    expect(problems).toEqual([]);
    expect(entries).toEqual([imported([0x1002, 0x67df], { classMatch: { classCode: 0x030000, mask: 0xffff00 } })]);
  });

  it('accepts what the kernel accepts: 0x prefixes, short hex', () => {
    const { entries, problems } = entriesFromModprobe([line(1, '0x10de:0X1b80', '1af4:1')]);
    expect(problems).toEqual([]);
    expect(entries.map((e) => e.id)).toEqual([{ vendor: 0x10de, device: 0x1b80 }, { vendor: 0x1af4, device: 1 }]);
  });

  it('skips empty pieces silently, like vfio-pci ("ids=a,,b,")', () => {
    expect(entriesFromModprobe([line(1, '10de:1b80', '', '10de:10f0', '')])).toEqual({
      entries: [imported([0x10de, 0x1b80]), imported([0x10de, 0x10f0])],
      problems: [],
    });
  });

  it('keeps the file and line of each entry, over several lines and files', () => {
    const { entries } = entriesFromModprobe([line(2, '10de:1b80'), { file: '/etc/modprobe.d/gpu.conf', line: 7, ids: ['1002:67df'] }]);
    expect(entries.map((e) => e.source)).toEqual([
      { file: FILE, line: 2, column: 1 },
      { file: '/etc/modprobe.d/gpu.conf', line: 7, column: 1 },
    ]);
  });

  it('nothing in, nothing out', () => {
    expect(entriesFromModprobe([])).toEqual({ entries: [], problems: [] });
  });
});

describe('entriesFromModprobe: malformed ids become problems, never crashes', () => {
  it.each([
    ['10de', 'is not vendor:device in hex'],
    ['zz:1b80', 'is not vendor:device in hex'],
    ['10de:', 'is not vendor:device in hex'],
    ['10de;1b80', 'is not vendor:device in hex'],
    ['-10de:1b80', 'is not vendor:device in hex'],
    [':', 'is not vendor:device in hex'],
  ])('"%s" is skipped, as vfio-pci skips it', (raw, words) => {
    const { entries, problems } = entriesFromModprobe([line(4, raw)]);
    expect(entries).toEqual([]);
    expect(problems).toEqual([{ file: FILE, line: 4, column: 1, message: expect.stringContaining(words) }]);
    expect(problems[0]?.message).toContain(`"${raw}"`);
  });

  it('trailing text the kernel ignores: imported as the kernel reads it, and reported', () => {
    const { entries, problems } = entriesFromModprobe([line(1, '8086:1533junk', '10de:1b80:')]);
    expect(entries.map((e) => e.id)).toEqual([{ vendor: 0x8086, device: 0x1533 }, { vendor: 0x10de, device: 0x1b80 }]);
    expect(problems.map((p) => p.message)).toEqual([
      expect.stringContaining('vfio-pci reads only "8086:1533" and ignores "junk"'),
      expect.stringContaining('ignores ":"'),
    ]);
  });

  it('refuses wildcards that would take every device of the host', () => {
    const { entries, problems } = entriesFromModprobe([line(1, 'ffffffff:ffffffff', '8086:ffffffff', 'ffffffff:1533')]);
    expect(entries).toEqual([]);
    expect(problems).toHaveLength(3);
    for (const p of problems) expect(p.message).toContain('list exact vendor:device ids');
  });

  it('refuses ids that can never match', () => {
    const { entries, problems } = entriesFromModprobe([line(1, '10de0:1b80', '10de:1b80:12345:1', '10de:1b80:ffffffff:ffffffff:1000000:ffffffff', '10de:1b80:1:2:3:4:5', '123456789:1')]);
    expect(problems.map((p) => p.message)).toEqual([
      expect.stringContaining('wider than 16 bits'),
      expect.stringContaining('subsystem id 12345 is wider than 16 bits'),
      expect.stringContaining('wider than 24 bits'),
      expect.stringContaining('ignores ":5"'),
      expect.stringContaining('wider than 32 bits'),
    ]);
    // Only the 7-field one is usable: the kernel reads its first six fields.
    expect(entries).toEqual([imported([0x10de, 0x1b80], { subsystem: { vendor: 1, device: 2 }, classMatch: { classCode: 3, mask: 4 } })]);
  });

  it('a class without a mask is ignored by the kernel: imported without class, and reported', () => {
    const { entries, problems } = entriesFromModprobe([line(1, '10de:1b80:ffffffff:ffffffff:030000')]);
    expect(entries).toEqual([imported([0x10de, 0x1b80])]);
    expect(problems[0]?.message).toContain('has no class_mask');
  });

  it('a repeated id is imported once and the repeat reported with the first place', () => {
    const { entries, problems } = entriesFromModprobe([line(1, '10de:1b80'), { file: '/etc/modprobe.d/b.conf', line: 9, ids: ['10DE:1B80'] }]);
    expect(entries).toEqual([imported([0x10de, 0x1b80])]);
    expect(problems).toEqual([{ file: '/etc/modprobe.d/b.conf', line: 9, column: 1, message: expect.stringContaining(`already imported from ${FILE}:1`) }]);
  });
});

describe('scanHexFields (the kernel sscanf "%x:%x:…")', () => {
  it.each([
    ['10de:1b80', [0x10de, 0x1b80], ''],
    [' 10de: 1b80', [0x10de, 0x1b80], ''],
    ['0x:1', [0], 'x:1'],
    ['1:2:3:4:5:6:7', [1, 2, 3, 4, 5, 6], ':7'],
    ['g', [], 'g'],
  ])('"%s" → %j, ignoring "%s"', (text, values, ignored) => {
    expect(scanHexFields(text)).toEqual({ values, ignored });
  });
});
