import { describe, expect, it } from 'vitest';
import { plan } from '../../src/plan/plan.js';
import type { PciDevice, Snapshot } from '../../src/model.js';
import { config, entry, iommuOn, seedSnapshot } from './data.js';

const deadConfig = (d: PciDevice): PciDevice => ({ ...d, health: { ...d.health, configAllOnes: true } });

function withDead(s: Snapshot, address: string, over: Partial<PciDevice> = {}): Snapshot {
  return { ...s, devices: s.devices.map((d) => (d.address === address ? deadConfig({ ...d, ...over }) : d)) };
}

describe('planner: a device whose config space reads all 0xff', () => {
  it('is dead, with the fix, and nothing is planned for it (no bind to retry)', () => {
    const s = withDead(seedSnapshot(), '0000:01:00.0', { driver: null });
    const p = plan({ config: config([entry({ address: '0000:01:00.0' })]), snapshot: s, iommu: iommuOn, owned: { devices: {} } });
    expect(p.actions).toEqual([]);
    const v = p.verdicts.find((x) => x.address === '0000:01:00.0')!;
    expect(v).toMatchObject({ state: 'dead', managed: true, targetDriver: 'vfio-pci' });
    expect(v.reason).toContain('needs a power cycle or a bus reset');
  });

  it('on vfio-pci after a VM used it: dead, not bound, and no override rewrite', () => {
    const s = withDead({ ...seedSnapshot(), drivers: [...seedSnapshot().drivers, 'vfio-pci'] }, '0000:03:00.0', { driver: 'vfio-pci', driverOverride: null });
    const p = plan({ config: config([entry({ address: '0000:03:00.0' })]), snapshot: s, iommu: iommuOn, owned: { devices: {} } });
    expect(p.actions).toEqual([]);
    expect(p.verdicts.find((x) => x.address === '0000:03:00.0')!.state).toBe('dead');
  });

  it('dropped from config while dead: not released (a write to it would only fail or hang)', () => {
    const s = withDead(seedSnapshot(), '0000:03:00.0', { driver: 'vfio-pci', driverOverride: 'vfio-pci' });
    const owned = { devices: { '0000:03:00.0': { driver: 'vfio-pci', previousDriver: 'igb', since: '2026-01-01T00:00:00Z' } } };
    const p = plan({ config: config([]), snapshot: s, iommu: iommuOn, owned });
    expect(p.actions).toEqual([]);
    expect(p.verdicts.find((x) => x.address === '0000:03:00.0')).toMatchObject({ state: 'dead', managed: false });
  });

  it('answers again after a bus reset: planned like any other device', () => {
    const c = config([entry({ address: '0000:03:00.0' })]);
    const p = plan({ config: c, snapshot: seedSnapshot(), iommu: iommuOn, owned: { devices: {} } });
    expect(p.actions.some((a) => a.kind === 'bind' && a.address === '0000:03:00.0')).toBe(true);
  });
});

describe('planner: a configured reset_method', () => {
  const withMethods = (s: Snapshot, address: string, resetMethods: string[] | null): Snapshot => ({
    ...s, devices: s.devices.map((d) => (d.address === address ? { ...d, health: { ...d.health, resetMethods } } : d)),
  });

  it('is written before the bind, for the matched device only (not the functions = "all" siblings)', () => {
    const p = plan({
      config: config([entry({ address: '0000:01:00.0', functions: 'all', resetMethod: ['bus'] })]), snapshot: seedSnapshot(), iommu: iommuOn, owned: { devices: {} },
    });
    expect(p.actions).toEqual([
      { kind: 'load-driver', driver: 'vfio-pci' },
      { kind: 'set-reset-method', address: '0000:01:00.0', methods: ['bus'] },
      { kind: 'bind', address: '0000:01:00.0', driver: 'vfio-pci', from: 'nvidia' },
      { kind: 'bind', address: '0000:01:00.1', driver: 'vfio-pci', from: 'snd_hda_intel' },
    ]);
  });

  it('is kept: a bound device whose reset_method drifted gets it written again; once right, nothing', () => {
    const base = { ...seedSnapshot(), drivers: [...seedSnapshot().drivers, 'vfio-pci'] };
    const bound: Snapshot = { ...base, devices: base.devices.map((d) => (d.address === '0000:03:00.0' ? { ...d, driver: 'vfio-pci', driverOverride: 'vfio-pci' } : d)) };
    const c = config([entry({ address: '0000:03:00.0', resetMethod: ['flr'] })]);
    expect(plan({ config: c, snapshot: bound, iommu: iommuOn, owned: { devices: {} } }).actions).toEqual([{ kind: 'set-reset-method', address: '0000:03:00.0', methods: ['flr'] }]);
    expect(plan({ config: c, snapshot: withMethods(bound, '0000:03:00.0', ['flr']), iommu: iommuOn, owned: { devices: {} } }).actions).toEqual([]);
  });

  it('blocks the device when the kernel has no reset_method for it', () => {
    const p = plan({
      config: config([entry({ address: '0000:03:00.0', resetMethod: ['device_specific'] })]), snapshot: withMethods(seedSnapshot(), '0000:03:00.0', null), iommu: iommuOn, owned: { devices: {} },
    });
    expect(p.actions).toEqual([]);
    const v = p.verdicts.find((x) => x.address === '0000:03:00.0')!;
    expect(v.state).toBe('blocked');
    expect(v.reason).toContain('the kernel offers no reset_method for this device');
  });

  it('two entries for one device with different reset_method contradict', () => {
    const p = plan({
      config: config([entry({ address: '0000:03:00.0', resetMethod: ['flr'] }), entry({ id: { vendor: 0x8086, device: 0x1533 }, resetMethod: ['bus'] })]),
      snapshot: seedSnapshot(), iommu: iommuOn, owned: { devices: {} },
    });
    expect(p.verdicts.find((x) => x.address === '0000:03:00.0')!.reason).toContain('different reset_method');
  });
});

describe('which devices wait on a process (holder scan only for those)', () => {
  it('an unbind that hung, and a release held back by a VM on the device or its group; nothing else', async () => {
    const { waitingDevices } = await import('../../src/health/waiting.js');
    const s = seedSnapshot();
    const onVfio = new Set(['0000:01:00.0', '0000:01:00.1', '0000:03:00.0']);
    const devices = s.devices.map((d) => (onVfio.has(d.address) ? { ...d, driver: 'vfio-pci', openByVm: d.address === '0000:01:00.1' } : d));
    const snapshot = { ...s, devices };
    const owned = { devices: { '0000:01:00.0': { driver: 'vfio-pci', previousDriver: 'nvidia', since: '' }, '0000:03:00.0': { driver: 'vfio-pci', previousDriver: 'igb', since: '' } } };
    const verdicts = plan({ config: config([entry({ address: '0000:00:1f.6' })]), snapshot, iommu: iommuOn, owned }).verdicts;
    // 01:00.0 shares group 1 with the open 01:00.1: its release is held; 03:00.0 is released now (not waiting).
    expect(waitingDevices(snapshot, verdicts, owned, new Set()).map((d) => d.address)).toEqual(['0000:01:00.0']);
    const hung = verdicts.map((v) => (v.address === '0000:00:1f.6' ? { ...v, state: 'failed' as const } : v));
    expect(waitingDevices(snapshot, hung, owned, new Set(['0000:00:1f.6'])).map((d) => d.address)).toEqual(['0000:00:1f.6', '0000:01:00.0']);
  });
});
