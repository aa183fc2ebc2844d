/**
 * The service on a private system-like bus with the shipped policy, queried by real clients
 * (busctl, gdbus) as root and as nobody.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { startBusService } from '../../src/dbus/index.js';
import { busError } from '../../src/dbus/errors.js';
import type { BusService, PlanRow, PublishedState } from '../../src/dbus/types.js';
import { startPrivateBus, type PrivateBus } from '../helpers/private-bus.js';
import { busctl, gdbusCall, monitorSignals, type MonitoredSignal } from './clients.js';
import { device, manager, state } from './fixtures.js';

const POLICY = fileURLToPath(new URL('../../data/dbus/org.pciepassthroughd.conf', import.meta.url));
const NAME = 'org.pciepassthroughd';
const MGR = '/org/pciepassthroughd';
const DEV0 = '/org/pciepassthroughd/devices/pci_0000_01_00_0';
const M1 = 'org.pciepassthroughd.Manager1';
const D1 = 'org.pciepassthroughd.Device1';

let bus: PrivateBus;
let svc: BusService;
const calls: string[] = [];
const warnings: string[] = [];
let planRows: PlanRow[] = [['0000:01:00.1', 'bind', 'vfio-pci (from snd_hda_intel)']];
let reconcileBehaviour: () => Promise<PlanRow[]> = async () => [['0000:01:00.1', 'bound', 'now on vfio-pci']];

beforeAll(async () => {
  bus = await startPrivateBus({ policyFiles: [POLICY] });
  svc = await startBusService({
    bus: { address: bus.address },
    initial: state(),
    log: { info() {}, warn: (m) => warnings.push(m), error() {} },
    handlers: {
      plan: async () => (calls.push('plan'), planRows),
      reconcile: async () => (calls.push('reconcile'), reconcileBehaviour()),
      reload: async () => void calls.push('reload'),
    },
  });
});

afterAll(async () => {
  await svc?.close();
  await bus?.stop();
});

beforeEach(() => {
  calls.length = 0;
  warnings.length = 0;
  svc.update(state());
});

describe('reading', () => {
  it('busctl get-property returns typed values for manager and device', async () => {
    const r = await busctl(bus.address, ['get-property', NAME, MGR, M1, 'State', 'LastReconcile', 'IommuGroupCount'], { asNobody: true });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['s "ready"', 't 1795497249395000', 'u 17']);
    const d = await busctl(bus.address, ['--json=short', 'get-property', NAME, DEV0, D1, 'VendorId'], { asNobody: true });
    expect(JSON.parse(d.stdout)).toEqual({ type: 'q', data: 0x10de });
  });

  it('gdbus GetAll as nobody returns every Manager1 property', async () => {
    const r = await gdbusCall(bus.address, MGR, 'org.freedesktop.DBus.Properties.GetAll', [M1], { asNobody: true });
    expect(r.exitCode).toBe(0);
    for (const p of ['Version', 'State', 'IommuEnabled', 'IommuKind', 'IommuGroupCount', 'InterruptRemapping', 'Checks', 'ConfigPath', 'ConfigError', 'ManagedCount', 'BoundCount', 'LastReconcile']) {
      expect(r.stdout).toContain(`'${p}'`);
    }
    expect(r.stdout).toContain("'LastReconcile': <uint64 1795497249395000>");
    expect(r.stdout).toContain("'Checks': <[('dmar-table', 'pass', 'ACPI DMAR table present')]>");
  });

  it('GetManagedObjects lists every device with all Device1 properties', async () => {
    const r = await busctl(bus.address, ['--json=short', 'call', NAME, MGR, 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects'], { asNobody: true });
    expect(r.exitCode).toBe(0);
    const [objects] = JSON.parse(r.stdout).data as [Record<string, Record<string, Record<string, { type: string; data: unknown }>>>];
    expect(Object.keys(objects).sort()).toEqual([DEV0, '/org/pciepassthroughd/devices/pci_0000_01_00_1']);
    const props = objects[DEV0]?.[D1];
    expect(props?.State).toEqual({ type: 's', data: 'bound' });
    expect(props?.IommuGroup).toEqual({ type: 'i', data: 12 });
    expect(props?.Class).toEqual({ type: 'u', data: 0x030000 });
    expect(props?.ResetMethod).toEqual({ type: 's', data: 'bus' });
    expect(props?.Resettable).toEqual({ type: 'b', data: true });
    expect(props?.Health).toEqual({ type: 'a(sss)', data: [['reset', 'pass', 'reset methods: bus']] });
    expect(props?.Claim).toEqual({ type: 's', data: 'early' });
    // busctl shows a(sssb) as JSON with the boolean as written.
    expect(props?.UsedBy).toEqual({ type: 'a(sssb)', data: [['pve', '100', 'win11', true]] });
    expect(Object.keys(props ?? {})).toHaveLength(22);
  });

  it('introspection lets busctl walk the tree and shows const/emits-change flags', async () => {
    const tree = await busctl(bus.address, ['tree', '--list', NAME], { asNobody: true });
    expect(tree.stdout.split('\n')).toEqual(expect.arrayContaining([MGR, DEV0, '/org/pciepassthroughd/devices/pci_0000_01_00_1']));
    const intro = await busctl(bus.address, ['introspect', NAME, DEV0], { asNobody: true });
    expect(intro.stdout).toMatch(/\.VendorId\s+property\s+q\s+4318\s+const/);
    expect(intro.stdout).toMatch(/\.State\s+property\s+s\s+"bound"\s+emits-change/);
  });

  it('a value that does not fit its type is published as a fallback; GetAll still answers', async () => {
    const bad = state();
    (bad.devices[0] as unknown as Record<string, unknown>).Name = undefined;
    (bad.devices[0] as unknown as Record<string, unknown>).VendorId = 0x12345;
    svc.update(bad);
    const r = await gdbusCall(bus.address, DEV0, 'org.freedesktop.DBus.Properties.GetAll', [D1]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("'Name': <''>");
    expect(r.stdout).toContain("'VendorId': <uint16 0>");
    expect(r.stdout).toContain("'State': <'bound'>");
    expect(warnings.join('\n')).toMatch(/0000:01:00.0: VendorId \(q\): not an integer/);
  });

  it('unknown objects and properties get standard errors', async () => {
    const obj = await busctl(bus.address, ['get-property', NAME, '/org/pciepassthroughd/devices/pci_0000_09_00_0', D1, 'State']);
    expect(obj.exitCode).not.toBe(0);
    expect(obj.stderr).toContain('No object at /org/pciepassthroughd/devices/pci_0000_09_00_0');
    const prop = await gdbusCall(bus.address, MGR, 'org.freedesktop.DBus.Properties.Get', [M1, 'Nope']);
    expect(prop.stderr).toContain('org.freedesktop.DBus.Error.UnknownProperty');
  });
});

describe('methods and access', () => {
  it('Plan is allowed for nobody and returns the handler rows', async () => {
    const r = await busctl(bus.address, ['call', NAME, MGR, M1, 'Plan'], { asNobody: true });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe('a(sss) 1 "0000:01:00.1" "bind" "vfio-pci (from snd_hda_intel)"');
    expect(calls).toEqual(['plan']);
  });

  it('Reconcile and Reload are refused for nobody with AccessDenied and never reach the handler', async () => {
    for (const method of ['Reconcile', 'Reload']) {
      const r = await gdbusCall(bus.address, MGR, `${M1}.${method}`, [], { asNobody: true });
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toContain('org.freedesktop.DBus.Error.AccessDenied');
    }
    expect(calls).toEqual([]);
  });

  it('Reconcile and Reload run for root', async () => {
    const r = await gdbusCall(bus.address, MGR, `${M1}.Reconcile`);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe("([('0000:01:00.1', 'bound', 'now on vfio-pci')],)");
    const reload = await busctl(bus.address, ['call', NAME, MGR, M1, 'Reload']);
    expect(reload.exitCode).toBe(0);
    expect(calls).toEqual(['reconcile', 'reload']);
  });

  it('Properties.Set is refused for root and for nobody, and changes nothing', async () => {
    const root = await gdbusCall(bus.address, MGR, 'org.freedesktop.DBus.Properties.Set', [M1, 'State', "<'hacked'>"]);
    expect(root.stderr).toContain('org.freedesktop.DBus.Error.PropertyReadOnly');
    const nobody = await busctl(bus.address, ['set-property', NAME, DEV0, D1, 'State', 's', 'hacked'], { asNobody: true });
    expect(nobody.exitCode).not.toBe(0);
    expect(nobody.stderr).toContain('Access denied');
    const mgr = await busctl(bus.address, ['get-property', NAME, MGR, M1, 'State']);
    const dev = await busctl(bus.address, ['get-property', NAME, DEV0, D1, 'State']);
    expect([mgr.stdout.trim(), dev.stdout.trim()]).toEqual(['s "ready"', 's "bound"']);
  });

  it('an exception in a handler becomes Error.Failed with its message and no stack trace', async () => {
    reconcileBehaviour = async () => {
      throw new Error('sysfs write failed: drivers_probe: ENODEV');
    };
    const r = await gdbusCall(bus.address, MGR, `${M1}.Reconcile`);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('org.pciepassthroughd.Error.Failed: sysfs write failed');
    expect(r.stderr).not.toMatch(/\n\s+at |service\.ts|\.test\.ts/);
  });

  it('a busError from a handler keeps its name', async () => {
    reconcileBehaviour = async () => {
      throw busError('Busy', 'a reconcile is already running');
    };
    const r = await gdbusCall(bus.address, MGR, `${M1}.Reconcile`);
    expect(r.stderr).toContain('org.pciepassthroughd.Error.Busy: a reconcile is already running');
  });

  it('malformed rows from a handler are dropped, the reply still goes out', async () => {
    planRows = [['0000:01:00.0', 'keep', 'ok'], ['broken'] as unknown as PlanRow];
    const r = await busctl(bus.address, ['call', NAME, MGR, M1, 'Plan']);
    expect(r.stdout.trim()).toBe('a(sss) 1 "0000:01:00.0" "keep" "ok"');
  });
});

describe('signals', () => {
  const marker = (s: MonitoredSignal) => s.member === 'Reconciled' && s.payload.data[1] === 'marker';
  /** Runs `act`, then emits a Reconciled marker and returns the signals seen before it. */
  async function signalsOf(act: () => void): Promise<MonitoredSignal[]> {
    const mon = await monitorSignals(bus.address);
    try {
      act();
      svc.emitReconciled(0, 'marker');
      const seen = await mon.waitFor(marker);
      return seen.slice(0, seen.findIndex(marker));
    } finally {
      await mon.stop();
    }
  }

  it('update() sends one PropertiesChanged per changed object holding only the changed properties', async () => {
    const next: PublishedState = state();
    next.devices[0] = device('0000:01:00.0', { State: 'failed', Reason: 'unbind hung' });
    next.manager = manager({ BoundCount: 0, State: 'degraded' });
    const seen = await signalsOf(() => svc.update(next));
    expect(seen.map((s) => [s.path, s.member, s.payload.data])).toEqual([
      [DEV0, 'PropertiesChanged', [D1, { State: { type: 's', data: 'failed' }, Reason: { type: 's', data: 'unbind hung' } }, []]],
      [MGR, 'PropertiesChanged', [M1, { State: { type: 's', data: 'degraded' }, BoundCount: { type: 'u', data: 0 } }, []]],
    ]);
  });

  it('update() with an unchanged state sends nothing', async () => {
    expect(await signalsOf(() => svc.update(state()))).toEqual([]);
  });

  it('devices that appear or disappear send InterfacesAdded/InterfacesRemoved, and the tree follows', async () => {
    const next = state();
    next.devices.splice(1, 1);
    next.devices.push(device('0000:02:00.0', { VendorId: 0x8086, DeviceId: 0x1533 }));
    const seen = await signalsOf(() => svc.update(next));
    expect(seen.map((s) => s.member)).toEqual(['InterfacesRemoved', 'InterfacesAdded']);
    expect(seen[0]?.payload.data).toEqual(['/org/pciepassthroughd/devices/pci_0000_01_00_1', [D1]]);
    const [path, ifaces] = seen[1]?.payload.data as [string, Record<string, Record<string, { data: unknown }>>];
    expect(path).toBe('/org/pciepassthroughd/devices/pci_0000_02_00_0');
    expect(ifaces[D1]?.DeviceId?.data).toBe(0x1533);
    const tree = await busctl(bus.address, ['tree', '--list', NAME]);
    expect(tree.stdout).toContain('/org/pciepassthroughd/devices/pci_0000_02_00_0');
    expect(tree.stdout).not.toContain('pci_0000_01_00_1');
  });

  it('emitReconciled sends Reconciled(u, s) on Manager1', async () => {
    const seen = await signalsOf(() => svc.emitReconciled(3, 'ready'));
    expect(seen.map((s) => [s.path, s.interface, s.member, s.payload])).toEqual([[MGR, M1, 'Reconciled', { type: 'us', data: [3, 'ready'] }]]);
  });
});
