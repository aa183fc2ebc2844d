import { describe, expect, it } from 'vitest';
import { formatConfigError, parseConfig } from '../../src/config/index.js';
import type { ConfigError } from '../../src/config/index.js';
import { DEFAULT_DAEMON_SETTINGS } from '../../src/model.js';
import type { Config } from '../../src/model.js';

const FILE = '/etc/pcie-passthroughd/config.toml';

function valid(text: string): Config {
  const result = parseConfig(text, FILE);
  if (!result.ok) throw new Error(`expected a valid config, got:\n${result.errors.map(formatConfigError).join('\n')}`);
  return result.config;
}

function errors(text: string): ConfigError[] {
  const result = parseConfig(text, FILE);
  if (result.ok) throw new Error('expected errors, the config was accepted');
  return result.errors;
}

/** The only error of `text`, which must sit at line:column and mention every `words`. */
function expectOneError(text: string, line: number, column: number, ...words: string[]): ConfigError {
  const all = errors(text);
  expect(all.map(formatConfigError)).toHaveLength(1);
  const [e] = all;
  if (e === undefined) throw new Error('no error');
  expect({ line: e.line, column: e.column }).toEqual({ line, column });
  for (const w of words) expect(e.message).toContain(w);
  return e;
}

describe('valid configs', () => {
  it('an empty file means defaults and no devices', () => {
    expect(valid('')).toEqual({ path: FILE, daemon: DEFAULT_DAEMON_SETTINGS, devices: [] });
    expect(valid('# nothing configured yet\n\n')).toEqual({ path: FILE, daemon: DEFAULT_DAEMON_SETTINGS, devices: [] });
  });

  it('reads the full example of DESIGN.md', () => {
    const config = valid(`[daemon]
driver = "vfio-pci"          # default target driver
require_iommu = false
check_schedule = "0 */2 * * mon-fri"
on_remove = "keep"
import_modprobe = false

[[device]]                   # by address; domain may be omitted ("01:00.0")
address = "01:00.0"
functions = "all"

[[device]]
address = "0000:02:00.0"
id = "8086:1533"

  [[device]]
  id = "10de:0e1b"
  subsystem = "1028:1234"
  driver = "pci-stub"
  allow_in_use = true
`);
    expect(config.daemon).toEqual({ driver: 'vfio-pci', requireIommu: false, checkSchedule: '0 */2 * * mon-fri', onRemove: 'keep', importModprobe: false, metricsTextfile: DEFAULT_DAEMON_SETTINGS.metricsTextfile, followGuests: 'none' });
    expect(config.devices).toEqual([
      {
        address: '0000:01:00.0', id: null, subsystem: null, classMatch: null, functions: 'all', driver: null,
        allowInUse: false, source: { file: FILE, line: 8, column: 1 }, imported: false,
      },
      {
        address: '0000:02:00.0', id: { vendor: 0x8086, device: 0x1533 }, subsystem: null, classMatch: null, functions: 'one',
        driver: null, allowInUse: false, source: { file: FILE, line: 12, column: 1 }, imported: false,
      },
      {
        address: null, id: { vendor: 0x10de, device: 0x0e1b }, subsystem: { vendor: 0x1028, device: 0x1234 }, classMatch: null,
        functions: 'one', driver: 'pci-stub', allowInUse: true, source: { file: FILE, line: 16, column: 3 }, imported: false,
      },
    ]);
  });

  it('keys left out of [daemon] keep their defaults', () => {
    expect(valid('[daemon]\non_remove = "keep"\n').daemon).toEqual({ ...DEFAULT_DAEMON_SETTINGS, onRemove: 'keep' });
  });

  it('normalises addresses to lower case with the domain', () => {
    const addresses = valid(
      ['01:00.0', '0000:0A:1F.7', 'abcd:ff:00.1', '10000:e0:17.0'].map((a) => `[[device]]\naddress = "${a}"\n`).join('\n'),
    ).devices.map((d) => d.address);
    expect(addresses).toEqual(['0000:01:00.0', '0000:0a:1f.7', 'abcd:ff:00.1', '10000:e0:17.0']);
  });

  it('reads ids in either case as numbers', () => {
    const [device] = valid('[[device]]\nid = "10DE:1b80"\nsubsystem = "1458:3702"\n').devices;
    expect(device?.id).toEqual({ vendor: 0x10de, device: 0x1b80 });
    expect(device?.subsystem).toEqual({ vendor: 0x1458, device: 0x3702 });
  });

  it('accepts the inline forms TOML allows', () => {
    const config = valid('daemon = { on_remove = "keep" }\ndevice = [ { address = "03:00.0" }, { id = "8086:1533" } ]\n');
    expect(config.daemon.onRemove).toBe('keep');
    expect(config.devices.map((d) => [d.address, d.source.line, d.source.column])).toEqual([
      ['0000:03:00.0', 2, 12],
      [null, 2, 37],
    ]);
  });

  it('accepts dotted daemon keys at the top level', () => {
    expect(valid('daemon.require_iommu = false\n').daemon.requireIommu).toBe(false);
  });

  it('functions = "all" by id is allowed (every slot holding a matching device)', () => {
    expect(valid('[[device]]\nid = "10de:1b80"\nfunctions = "all"\n').devices[0]?.functions).toBe('all');
  });

  it('siblings of a whole-slot entry may be listed again when the driver agrees', () => {
    const config = valid('[[device]]\naddress = "01:00.0"\nfunctions = "all"\n[[device]]\naddress = "01:00.1"\nallow_in_use = true\n');
    expect(config.devices).toHaveLength(2);
  });

  it('ignores a byte-order mark and keeps columns as the admin sees them', () => {
    const e = expectOneError('\uFEFFdriver = "vfio-pci"\n', 1, 1, 'add a [daemon] line above it');
    expect(e.file).toBe(FILE);
  });
});

describe('syntax errors', () => {
  it('point at the offending character', () => {
    expectOneError('[daemon]\ndriver = "vfio-pci\n', 2, 19, 'TOML syntax error', 'Unterminated string');
    expectOneError('[[device]]\naddress = 01:00.0\n', 2, 16, 'TOML syntax error', 'strings need double quotes');
    expectOneError('[daemon]\nrequire_iommu = \n\n', 2, 16, 'TOML syntax error');
    expectOneError('[daemon]\n[[device]\naddress = "01:00.0"\n', 2, 10, 'TOML syntax error');
    expectOneError('[daemon]\ndriver = vfio-pci\n', 2, 10, 'TOML syntax error');
  });

  it('reports a key defined twice where the second one is', () => {
    expectOneError('[daemon]\ndriver = "a"\ndriver = "b"\n', 3, 1, 'multiple times');
    expectOneError('[daemon]\n[daemon]\n', 2, 2, 'multiple times', 'remove the repeated key or table');
  });

  it('formats as FILE:LINE:COL: message', () => {
    const [e] = errors('[daemon]\nrequire_iommu = yes\n');
    expect(e && formatConfigError(e)).toMatch(/^\/etc\/pcie-passthroughd\/config\.toml:2:17: TOML syntax error: /);
  });
});

describe('unknown keys and tables', () => {
  it('suggests the nearest daemon key', () => {
    expectOneError('[daemon]\n\nrequire-iommu = false\n', 3, 1, 'unknown key "require-iommu" in [daemon]', 'did you mean "require_iommu"?');
    expectOneError('[daemon]\ncheck_shedule = "* * * * *"\n', 2, 1, 'did you mean "check_schedule"?');
    expectOneError('[daemon]\n  ImportModprobe = true\n', 2, 3, 'did you mean "import_modprobe"?');
  });

  it('suggests the nearest device key, without a second "neither address nor id" error', () => {
    expectOneError('[[device]]\nadress = "01:00.0"\n', 2, 1, 'unknown key "adress" in [[device]]', 'did you mean "address"?');
    expectOneError('[[device]]\naddress = "01:00.0"\nallow_inuse = true\n', 3, 1, 'did you mean "allow_in_use"?');
    expectOneError('[[device]]\naddress = "01:00.0"\nsubsys = "1028:1234"\n', 3, 1, 'did you mean "subsystem"?');
  });

  it('lists the known keys when nothing is close', () => {
    expectOneError('[daemon]\ncolour = "blue"\n', 2, 1, 'unknown key "colour"', 'known keys: driver, require_iommu, check_schedule, on_remove, import_modprobe');
  });

  it('says where a key of the other table belongs', () => {
    expectOneError('[daemon]\naddress = "01:00.0"\n', 2, 1, '"address" is not a [daemon] key; it belongs in a [[device]] table');
    expectOneError('[[device]]\naddress = "01:00.0"\non_remove = "keep"\n', 3, 1, 'belongs in the [daemon] table');
  });

  it('catches keys written before any table', () => {
    expectOneError('address = "01:00.0"\n', 1, 1, 'add a [[device]] line above it');
    expectOneError('require_iommu = false\n', 1, 1, 'add a [daemon] line above it');
    expectOneError('verbose = true\n', 1, 1, 'unknown top-level key "verbose"');
  });

  it('rejects unknown tables, suggesting the right one', () => {
    expectOneError('[devices]\naddress = "01:00.0"\n', 1, 2, 'unknown table [devices]', 'did you mean [[device]]?');
    expectOneError('[deamon]\n', 1, 2, 'did you mean [daemon]?');
    expectOneError('[logging]\nlevel = "debug"\n', 1, 2, 'unknown table [logging]', 'known tables are [daemon] and [[device]]');
    expectOneError('[daemon.extra]\n', 1, 2, '[daemon.extra] is not a known table');
    expectOneError('[[device]]\naddress = "01:00.0"\n[device.options]\n', 3, 2, '[[device]] has no sub-tables');
  });

  it('tells single from double brackets', () => {
    expectOneError('[device]\naddress = "01:00.0"\n', 1, 2, 'write [[device]] with double brackets');
    expectOneError('[[daemon]]\n', 1, 3, 'write [daemon] with single brackets');
  });

  it('rejects dotted sub-keys of a plain key', () => {
    expectOneError('[daemon]\ndriver.name = "vfio-pci"\n', 2, 1, '"driver" takes a single value');
  });
});

describe('wrong types and values', () => {
  it('names the expected type and what was written', () => {
    expectOneError('[daemon]\nrequire_iommu = "yes"\n', 2, 17, 'require_iommu must be true or false (without quotes), not the string "yes"');
    expectOneError('[daemon]\nimport_modprobe = 1\n', 2, 19, 'not the number 1');
    expectOneError('[daemon]\ndriver = true\n', 2, 10, 'driver must be a string in double quotes, not true');
    expectOneError('[[device]]\naddress = ["01:00.0"]\n', 2, 11, 'address must be a string', 'not an array');
    expectOneError('[[device]]\naddress = "01:00.0"\nallow_in_use = "true"\n', 3, 16, 'allow_in_use must be true or false');
    expectOneError('daemon = 3\n', 1, 10, 'daemon must be a table');
  });

  it('checks enum values', () => {
    expectOneError('[daemon]\non_remove = "Release"\n', 2, 13, 'on_remove must be "release" or "keep", not "Release"');
    expectOneError('[[device]]\naddress = "01:00.0"\nfunctions = "both"\n', 3, 13, 'functions must be "one" or "all", not "both"');
  });

  it('checks driver names', () => {
    expectOneError('[daemon]\ndriver = ""\n', 2, 10, 'must not be empty');
    expectOneError('[daemon]\ndriver = "vfio_pci"\n', 2, 10, 'the PCI driver is called "vfio-pci"');
    expectOneError('[[device]]\nid = "10de:1b80"\ndriver = "../../etc"\n', 3, 10, 'is not a kernel driver name');
    expectOneError('[[device]]\nid = "10de:1b80"\ndriver = "vfio pci"\n', 3, 10, 'is not a kernel driver name');
  });

  it('checks the schedule', () => {
    expectOneError('[daemon]\ncheck_schedule = "every 5 minutes"\n', 2, 18, 'check_schedule:', 'has 3 fields', '"*/5 * * * *"');
    expectOneError('[daemon]\ncheck_schedule = "*/0 * * * *"\n', 2, 18, 'step "/0" in the minute field');
    expectOneError('[daemon]\ncheck_schedule = "@hourly"\n', 2, 18, 'shortcuts like @hourly are not supported');
  });
});

describe('addresses and ids', () => {
  it.each([
    ['1:00.0', 'is not a PCI address'],
    ['0000:01:00', 'is not a PCI address'],
    ['pci_0000_01_00_0', 'is not a PCI address'],
    [' 01:00.0', 'is not a PCI address'],
    ['0000:01:20.0', 'device number 20 in "0000:01:20.0" is out of range: it must be 00 to 1f'],
    ['01:00.8', 'function number 8 in "01:00.8" is out of range: it must be 0 to 7'],
    ['gg:00.0', 'e.g. "0000:01:00.0" (or "01:00.0")'],
  ])('address "%s" is refused', (address, words) => {
    expectOneError(`[[device]]\naddress = "${address}"\n`, 2, 11, 'address:', words);
  });

  it.each(['10de', '10de:1b8', '10de-1b80', '0x10de:0x1b80', '10de:1b80:1458:3702', '10de:1b80 '])('id "%s" is refused', (id) => {
    expectOneError(`[[device]]\nid = "${id}"\n`, 2, 6, 'id:', 'is not a valid id', '"10de:1b80"');
  });

  it('subsystem has the same form', () => {
    expectOneError('[[device]]\nid = "10de:1b80"\nsubsystem = "1028"\n', 3, 13, 'is not a valid subsystem', 'lspci -vnn');
  });
});

describe('whole-entry rules', () => {
  it('a device needs an address or an id', () => {
    expectOneError('[daemon]\n\n[[device]]\ndriver = "vfio-pci"\n', 3, 1, 'neither address nor id', 'address = "0000:01:00.0"');
    expectOneError('[[device]]\n', 1, 1, 'neither address nor id');
  });

  it('subsystem without id is refused at the subsystem key', () => {
    expectOneError('[[device]]\naddress = "01:00.0"\nsubsystem = "1028:1234"\n', 3, 1, 'subsystem only narrows an id match');
  });

  it('the same address twice points at the second, naming the first line', () => {
    expectOneError('[[device]]\naddress = "0000:01:00.0"\n\n[[device]]\naddress = "01:00.0"\nid = "10de:1b80"\n', 5, 11,
      'device 0000:01:00.0 is already configured by the [[device]] at line 1');
  });

  it('the same id and subsystem twice is a duplicate; a different subsystem is not', () => {
    expectOneError('[[device]]\nid = "10de:1b80"\n[[device]]\nid = "10DE:1B80"\n', 4, 6, 'id 10de:1b80 is already configured by the [[device]] at line 1');
    expectOneError('[[device]]\nid = "10de:1b80"\nsubsystem = "1458:3702"\n[[device]]\nid = "10de:1b80"\nsubsystem = "1458:3702"\n', 5, 6,
      'with subsystem 1458:3702', 'line 1');
    expect(valid('[[device]]\nid = "10de:1b80"\n[[device]]\nid = "10de:1b80"\nsubsystem = "1458:3702"\n').devices).toHaveLength(2);
  });

  it('a whole-slot entry and a sibling for another driver contradict, whichever comes first', () => {
    expectOneError('[[device]]\naddress = "01:00.0"\nfunctions = "all"\n[[device]]\naddress = "01:00.1"\ndriver = "pci-stub"\n', 5, 11,
      'contradiction with the [[device]] at line 1', '0000:01:00.0 takes every function of slot 0000:01:00', '0000:01:00.1 is configured for "pci-stub"');
    expectOneError('[[device]]\naddress = "01:00.1"\ndriver = "pci-stub"\n[[device]]\naddress = "01:00.0"\nfunctions = "all"\n', 5, 11,
      'contradiction with the [[device]] at line 1', '0000:01:00.0 takes every function');
  });

  it('the daemon driver counts as the entry driver', () => {
    expectOneError('[daemon]\ndriver = "pci-stub"\n[[device]]\naddress = "01:00.0"\nfunctions = "all"\n[[device]]\naddress = "01:00.1"\ndriver = "vfio-pci"\n', 7, 11,
      '"pci-stub"', '"vfio-pci"');
  });

  it('collects every error, sorted by position, not just the first', () => {
    const all = errors(`[daemon]
require_iommu = "yes"
on_remove = "never"

[[device]]
address = "01:00.9"

[[device]]
subsystem = "1028:1234"
`);
    expect(all.map((e) => `${e.line}:${e.column}`)).toEqual(['2:17', '3:13', '6:11', '8:1', '9:1']);
  });
});

describe('never throws', () => {
  it.each([
    'device = [1, { address = "01:00.0" }]',
    'device = "01:00.0"',
    'device.address = "01:00.0"',
    '[[device.x]]',
    'daemon = []',
    '"" = 1',
    '[daemon]\n"" = 1',
    '[[device]]\naddress = 1979-05-27T07:32:00Z',
    '[[device]]\naddress = { bus = 1 }',
    'x = [[[[[[[[[[1]]]]]]]]]]',
    '\u0000\u0001',
    '[[device]]\n'.repeat(200),
    '[a.b.c]\n[a]\n',
    '[[device]]\naddress = "01:00.0"\n[[device]]\naddress = "01:00.0"\n[[device]]\naddress = "01:00.0"',
  ])('returns errors for %j', (text) => {
    const result = parseConfig(text, FILE);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors.length).toBeGreaterThan(0);
      for (const e of result.errors) {
        expect(e.file).toBe(FILE);
        expect(e.message.length).toBeGreaterThan(10);
        expect(e.line).toBeGreaterThanOrEqual(1);
      }
    }
  });

  it('a multi-line schedule string is trimmed and accepted', () => {
    expect(valid('[daemon]\ncheck_schedule = """\n*/5 * * * *\n"""\n').daemon.checkSchedule).toBe('*/5 * * * *');
  });
});
