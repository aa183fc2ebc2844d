/** Pure parts: value fitting, state diffing, paths, error mapping, and the shipped XML. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { DBusError } from 'dbus-next';
import { busError, toErrorReply } from '../../src/dbus/errors.js';
import { devicePath } from '../../src/dbus/names.js';
import { buildTable, diffTables } from '../../src/dbus/published.js';
import { coerce, DEVICE1, interfaceFile, MANAGER1, type PropertySpec } from '../../src/dbus/schema.js';
import { childNodes } from '../../src/dbus/service.js';
import { device, manager, state } from './fixtures.js';

const spec = (iface: typeof MANAGER1, name: string): PropertySpec => {
  const p = iface.properties.find((x) => x.name === name);
  if (!p) throw new Error(`no property ${name}`);
  return p;
};

describe('devicePath', () => {
  it('spells device objects like libvirt nodedev names', () => {
    expect(devicePath('0000:01:00.0')).toBe('/org/pciepassthroughd/devices/pci_0000_01_00_0');
    expect(devicePath('10000:e1:1f.7')).toBe('/org/pciepassthroughd/devices/pci_10000_e1_1f_7');
  });
});

describe('coerce', () => {
  it('keeps values that fit and converts a safe integer to t', () => {
    expect(coerce(spec(DEVICE1, 'VendorId'), 0x10de)).toEqual({ value: 0x10de, problem: null });
    expect(coerce(spec(MANAGER1, 'LastReconcile'), 1_700_000_000_000_000)).toEqual({ value: 1_700_000_000_000_000n, problem: null });
    expect(coerce(spec(DEVICE1, 'IommuGroup'), -1)).toEqual({ value: -1, problem: null });
  });

  it('replaces values outside the D-Bus type by the fallback and says why', () => {
    const q = coerce(spec(DEVICE1, 'VendorId'), 0x10000);
    expect(q.value).toBe(0);
    expect(q.problem).toMatch(/VendorId \(q\): not an integer in 0\.\.65535/);
    expect(coerce(spec(DEVICE1, 'IommuGroup'), undefined).value).toBe(-1);
    expect(coerce(spec(MANAGER1, 'LastReconcile'), -5n).value).toBe(0n);
    expect(coerce(spec(MANAGER1, 'IommuEnabled'), 'yes').value).toBe(false);
  });

  it('strips NUL from strings (dbus-daemon drops a connection that sends one)', () => {
    expect(coerce(spec(DEVICE1, 'Reason'), 'a\0b').value).toBe('ab');
  });

  it('drops malformed a(sss) rows and keeps the rest', () => {
    const r = coerce(spec(MANAGER1, 'Checks'), [['a', 'pass', 'ok'], ['b', 'warn'], 'x', ['c', 'fail', 7]]);
    expect(r.value).toEqual([['a', 'pass', 'ok']]);
    expect(r.problem).toMatch(/dropped 3 malformed row/);
  });
});

describe('buildTable', () => {
  it('publishes each canonical address once, sorted, and reports the rest', () => {
    const { table, problems } = buildTable(state({ devices: [device('0000:02:00.0'), device('01:00.0'), device('0000:01:00.0'), device('0000:02:00.0')] }));
    expect([...table.devices.keys()]).toEqual([devicePath('0000:01:00.0'), devicePath('0000:02:00.0')]);
    expect(problems).toEqual([
      'device "01:00.0": not a canonical PCI address (dddd:bb:ss.f), not published',
      'device 0000:02:00.0: listed twice, the first entry is published',
    ]);
  });
});

describe('diffTables', () => {
  const table = (s = state()) => buildTable(s).table;

  it('yields nothing for an equal state (arrays and bigints compared by value)', () => {
    expect(diffTables(table(), table())).toEqual([]);
  });

  it('yields only the changed properties, one event per object, manager last', () => {
    const next = state({ manager: manager({ Checks: [['dmar-table', 'fail', 'gone']], LastReconcile: 1n }) });
    next.devices[1] = { ...(next.devices[1] as (typeof next.devices)[0]), State: 'bound', Driver: 'vfio-pci' };
    expect(diffTables(table(), table(next))).toEqual([
      { kind: 'changed', path: devicePath('0000:01:00.1'), iface: DEVICE1.name, changed: { Driver: 'vfio-pci', State: 'bound' } },
      { kind: 'changed', path: '/org/pciepassthroughd', iface: MANAGER1.name, changed: { Checks: [['dmar-table', 'fail', 'gone']], LastReconcile: 1n } },
    ]);
  });

  it('removes vanished devices before adding new ones', () => {
    const next = state({ devices: [device('0000:01:00.0'), device('0000:03:00.0')] });
    const events = diffTables(table(), table(next));
    expect(events.map((e) => [e.kind, e.path])).toEqual([
      ['removed', devicePath('0000:01:00.1')],
      ['added', devicePath('0000:03:00.0')],
    ]);
  });

  it('treats a different card at the same address as remove + add (its ids are const)', () => {
    const next = state();
    next.devices[0] = device('0000:01:00.0', { VendorId: 0x1002 });
    expect(diffTables(table(), table(next)).map((e) => e.kind)).toEqual(['removed', 'added']);
  });
});

describe('childNodes', () => {
  it('lists the next path element below a node', () => {
    const paths = ['/org/pciepassthroughd', '/org/pciepassthroughd/devices/pci_0000_01_00_0', '/org/pciepassthroughd/devices/pci_0000_00_02_0'];
    expect(childNodes('/', paths)).toEqual(['org']);
    expect(childNodes('/org/pciepassthroughd', paths)).toEqual(['devices']);
    expect(childNodes('/org/pciepassthroughd/devices', paths)).toEqual(['pci_0000_00_02_0', 'pci_0000_01_00_0']);
    expect(childNodes('/org/pciepassthroughd/dev', paths)).toEqual([]);
  });
});

describe('errors', () => {
  it('busError names org.pciepassthroughd.Error.<kind>', () => {
    expect(toErrorReply(busError('InvalidConfig', 'config.toml:3:1: unknown key'))).toEqual({
      name: 'org.pciepassthroughd.Error.InvalidConfig',
      message: 'config.toml:3:1: unknown key',
    });
  });

  it('any other exception becomes Error.Failed with its message only', () => {
    const reply = toErrorReply(new TypeError('cannot read x'));
    expect(reply).toEqual({ name: 'org.pciepassthroughd.Error.Failed', message: 'cannot read x' });
    expect(toErrorReply(new DBusError('org.freedesktop.DBus.Error.AccessDenied', 'no')).name).toBe('org.freedesktop.DBus.Error.AccessDenied');
    expect(toErrorReply(42).name).toBe('org.pciepassthroughd.Error.Failed');
  });
});

describe('shipped introspection XML', () => {
  it.each([
    ['org.pciepassthroughd.Manager1.xml', MANAGER1],
    ['org.pciepassthroughd.Device1.xml', DEVICE1],
  ])('data/dbus/%s is generated from the schema the service introspects from', (file, iface) => {
    const shipped = readFileSync(new URL(`../../data/dbus/${file}`, import.meta.url), 'utf8');
    expect(shipped).toBe(interfaceFile(iface));
  });
});
