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
