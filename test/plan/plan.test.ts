import { describe, expect, it } from 'vitest';
import { plan } from '../../src/plan/plan.js';
import type { Snapshot, Verdict } from '../../src/model.js';
import { afterBinding, config, dev, entry, iommuOff, iommuOn, seedSnapshot } from './data.js';

const noneOwned = { devices: {} };
const verdictOf = (vs: Verdict[], a: string): Verdict => {
  const v = vs.find((x) => x.address === a);
  if (!v) throw new Error(`no verdict for ${a}`);
  return v;
};

describe('planner', () => {
  it('binds the GPU and, with functions = "all", its HDMI audio, loading vfio-pci first', () => {
    const p = plan({ config: config([entry({ address: '0000:01:00.0', functions: 'all' })]), snapshot: seedSnapshot(), iommu: iommuOn, owned: noneOwned });
    expect(p.actions).toEqual([
      { kind: 'load-driver', driver: 'vfio-pci' },
      { kind: 'bind', address: '0000:01:00.0', driver: 'vfio-pci', from: 'nvidia' },
      { kind: 'bind', address: '0000:01:00.1', driver: 'vfio-pci', from: 'snd_hda_intel' },
    ]);
    expect(verdictOf(p.verdicts, '0000:01:00.0')).toMatchObject({ state: 'pending', managed: true, targetDriver: 'vfio-pci', groupViable: true });
    expect(verdictOf(p.verdicts, '0000:01:00.1').reason).toContain('now on snd_hda_intel');
    expect(verdictOf(p.verdicts, '0000:03:00.0')).toMatchObject({ state: 'host', managed: false });
  });

  it('is idempotent: after the binds happened, a second plan has no actions and says bound', () => {
    const c = config([entry({ address: '0000:01:00.0', functions: 'all' })]);
    const first = plan({ config: c, snapshot: seedSnapshot(), iommu: iommuOn, owned: noneOwned });
    const bound = first.actions.flatMap((a) => (a.kind === 'bind' ? [a.address] : []));
    const second = plan({ config: c, snapshot: afterBinding(seedSnapshot(), bound), iommu: iommuOn, owned: noneOwned });
    expect(second.actions).toEqual([]);
    expect(second.verdicts.filter((v) => v.managed).map((v) => v.state)).toEqual(['bound', 'bound']);
  });

  it('a device already on the driver only gets its override written, never a rebind', () => {
    const s = seedSnapshot();
    const onVfio: Snapshot = { ...s, drivers: [...s.drivers, 'vfio-pci'], devices: s.devices.map((d) => (d.address === '0000:03:00.0' ? { ...d, driver: 'vfio-pci' } : d)) };
    const p = plan({ config: config([entry({ address: '0000:03:00.0' })]), snapshot: onVfio, iommu: iommuOn, owned: noneOwned });
    expect(p.actions).toEqual([{ kind: 'set-override', address: '0000:03:00.0', driver: 'vfio-pci' }]);
    expect(verdictOf(p.verdicts, '0000:03:00.0').state).toBe('bound');
  });

  it('by vendor:device id takes every match; by subsystem narrows it', () => {
    const s = seedSnapshot();
    s.devices.push(dev('0000:04:00.0', { driver: 'igb', iommuGroup: 6, subsystemDeviceId: 0x0002 }));
    s.groups.push({ id: 6, devices: ['0000:04:00.0'], type: 'DMA', name: null });
    const all = plan({ config: config([entry({ id: { vendor: 0x8086, device: 0x1533 } })]), snapshot: s, iommu: iommuOn, owned: noneOwned });
    expect(all.actions.filter((a) => a.kind === 'bind').map((a) => (a.kind === 'bind' ? a.address : ''))).toEqual(['0000:03:00.0', '0000:04:00.0']);
    const narrowed = plan({
      config: config([entry({ id: { vendor: 0x8086, device: 0x1533 }, subsystem: { vendor: 0x8086, device: 0x0002 } })]), snapshot: s, iommu: iommuOn, owned: noneOwned,
    });
    expect(narrowed.actions.filter((a) => a.kind === 'bind')).toEqual([{ kind: 'bind', address: '0000:04:00.0', driver: 'vfio-pci', from: 'igb' }]);
  });

  it('an id that matches nothing is reported, not an error', () => {
    const p = plan({ config: config([entry({ id: { vendor: 0x1002, device: 0x67df } })]), snapshot: seedSnapshot(), iommu: iommuOn, owned: noneOwned });
    expect(p.actions).toEqual([]);
    expect(p.unmatched[0]).toMatch(/config\.toml:\d+: no device matches id 1002:67df/);
  });

  it('refuses a different card at a pinned address ("hardware changed")', () => {
    const p = plan({ config: config([entry({ address: '0000:01:00.0', id: { vendor: 0x1002, device: 0x67df }, functions: 'all' })]), snapshot: seedSnapshot(), iommu: iommuOn, owned: noneOwned });
    expect(p.actions).toEqual([]);
    const v = verdictOf(p.verdicts, '0000:01:00.0');
    expect(v.state).toBe('blocked');
    expect(v.reason).toContain('hardware changed');
    expect(v.reason).toContain('10de:0ffc');
    // siblings of a changed card are not dragged along
    expect(verdictOf(p.verdicts, '0000:01:00.1').managed).toBe(false);
  });

  it('a configured address with no device is missing', () => {
    const p = plan({ config: config([entry({ address: '0000:0a:00.0' })]), snapshot: seedSnapshot(), iommu: iommuOn, owned: noneOwned });
    expect(verdictOf(p.verdicts, '0000:0a:00.0')).toMatchObject({ state: 'missing', managed: true });
  });

  it('with the IOMMU off binds nothing and says why, unless require_iommu = false', () => {
    const c = config([entry({ address: '0000:03:00.0' })]);
    const off = plan({ config: c, snapshot: seedSnapshot(), iommu: iommuOff, owned: noneOwned });
    expect(off.actions).toEqual([]);
    expect(verdictOf(off.verdicts, '0000:03:00.0').reason).toContain('IOMMU is off');
    const s = seedSnapshot();
    const forced = plan({ config: config([entry({ address: '0000:03:00.0', driver: 'pci-stub' })], { requireIommu: false }), snapshot: s, iommu: iommuOff, owned: noneOwned });
    expect(forced.actions).toContainEqual({ kind: 'bind', address: '0000:03:00.0', driver: 'pci-stub', from: 'igb' });
  });

  it('never takes a device the host uses (root disk, uplink NIC, console GPU) unless allow_in_use', () => {
    const p = plan({
      config: config([entry({ address: '0000:00:17.0' }), entry({ address: '0000:00:1f.6' }), entry({ address: '0000:00:02.0' })]),
      snapshot: seedSnapshot(), iommu: iommuOn, owned: noneOwned,
    });
    expect(p.actions).toEqual([]);
    expect(verdictOf(p.verdicts, '0000:00:17.0')).toMatchObject({ state: 'blocked' });
    expect(verdictOf(p.verdicts, '0000:00:17.0').reason).toMatch(/in use by the host \(sda2 mounted on \/\); set allow_in_use = true/);
    expect(verdictOf(p.verdicts, '0000:00:1f.6').reason).toContain('eno1 is up');
    expect(verdictOf(p.verdicts, '0000:00:02.0').reason).toContain('boot VGA');
    const allowed = plan({ config: config([entry({ address: '0000:00:1f.6', allowInUse: true })]), snapshot: seedSnapshot(), iommu: iommuOn, owned: noneOwned });
    expect(allowed.actions).toContainEqual({ kind: 'bind', address: '0000:00:1f.6', driver: 'vfio-pci', from: 'e1000e' });
  });

  it('never takes bridges, even with allow_in_use', () => {
    const p = plan({ config: config([entry({ address: '0000:00:01.0', allowInUse: true }), entry({ address: '0000:00:00.0', allowInUse: true })]), snapshot: seedSnapshot(), iommu: iommuOn, owned: noneOwned });
    expect(p.actions).toEqual([]);
    expect(verdictOf(p.verdicts, '0000:00:01.0').reason).toContain('bridge');
    expect(verdictOf(p.verdicts, '0000:00:00.0').state).toBe('blocked');
  });

  it('predicts the kernel refusals: PF with VFs enabled (EBUSY), no IOMMU group', () => {
    const s = seedSnapshot();
    s.devices.push(dev('0000:05:00.0', { driver: 'ixgbe', sriovNumVfs: 4, iommuGroup: 7 }), dev('0000:06:00.0', { driver: 'igb', iommuGroup: null }));
    const p = plan({ config: config([entry({ address: '0000:05:00.0' }), entry({ address: '0000:06:00.0' })]), snapshot: s, iommu: iommuOn, owned: noneOwned });
    expect(p.actions).toEqual([]);
    expect(verdictOf(p.verdicts, '0000:05:00.0').reason).toContain('4 virtual functions');
    expect(verdictOf(p.verdicts, '0000:06:00.0').reason).toContain('no IOMMU group');
  });

  it('reports group viability: the GPU alone leaves its audio function on the host driver', () => {
    const p = plan({ config: config([entry({ address: '0000:01:00.0' })]), snapshot: seedSnapshot(), iommu: iommuOn, owned: noneOwned });
    const gpu = verdictOf(p.verdicts, '0000:01:00.0');
    expect(gpu.groupViable).toBe(false);
    expect(gpu.groupBlockers).toEqual(['0000:01:00.1']);
    expect(gpu.reason).toContain('IOMMU group 1 is not viable for a VM while 0000:01:00.1 stays on snd_hda_intel');
    // the bridge in the group does not count
    expect(gpu.groupBlockers).not.toContain('0000:00:01.0');
  });

  it('imported modprobe ids are planned like config entries and marked imported', () => {
    const imported = [entry({ id: { vendor: 0x10de, device: 0x0e1b }, imported: true, source: { file: '/etc/modprobe.d/vfio.conf', line: 1, column: 1 } })];
    const p = plan({ config: config([]), snapshot: seedSnapshot(), iommu: iommuOn, owned: noneOwned, imported });
    expect(p.actions).toContainEqual({ kind: 'bind', address: '0000:01:00.1', driver: 'vfio-pci', from: 'snd_hda_intel' });
    expect(verdictOf(p.verdicts, '0000:01:00.1')).toMatchObject({ imported: true, managed: true });
  });

  it('on_remove = "release" gives back only devices this tool bound; "keep" leaves them', () => {
    const s = afterBinding(seedSnapshot(), ['0000:03:00.0', '0000:01:00.0']);
    const owned = { devices: { '0000:03:00.0': { driver: 'vfio-pci', previousDriver: 'igb', since: '2026-11-27T00:00:00Z' } } };
    const released = plan({ config: config([]), snapshot: s, iommu: iommuOn, owned });
    expect(released.actions).toEqual([{ kind: 'release', address: '0000:03:00.0', from: 'vfio-pci' }]);
    expect(verdictOf(released.verdicts, '0000:03:00.0').reason).toContain('returning it to the host driver');
    // 01:00.0 is on vfio-pci but not ours (bound by someone else): untouched
    expect(verdictOf(released.verdicts, '0000:01:00.0')).toMatchObject({ state: 'host', reason: '' });
    const kept = plan({ config: config([], { onRemove: 'keep' }), snapshot: s, iommu: iommuOn, owned });
    expect(kept.actions).toEqual([]);
    expect(verdictOf(kept.verdicts, '0000:03:00.0').reason).toContain('on_remove = "keep"');
  });

  it('a device whose unbind hung is failed and not retried', () => {
    const p = plan({ config: config([entry({ address: '0000:03:00.0' })]), snapshot: seedSnapshot(), iommu: iommuOn, owned: noneOwned, stuck: { '0000:03:00.0': 'unbind from igb hung' } });
    expect(p.actions).toEqual([]);
    expect(verdictOf(p.verdicts, '0000:03:00.0')).toMatchObject({ state: 'failed', reason: 'unbind from igb hung' });
  });

  it('two entries wanting different drivers for one device: refused with both places', () => {
    const p = plan({ config: config([entry({ address: '0000:03:00.0' }), entry({ id: { vendor: 0x8086, device: 0x1533 }, driver: 'pci-stub' })]), snapshot: seedSnapshot(), iommu: iommuOn, owned: noneOwned });
    expect(p.actions).toEqual([]);
    expect(verdictOf(p.verdicts, '0000:03:00.0').reason).toMatch(/configured twice with different drivers \(vfio-pci at .*config\.toml:\d+, pci-stub at/);
  });

  it('never releases a device a VM has open (enable = 1): it waits until the VM lets go', () => {
    const s = afterBinding(seedSnapshot(), ['0000:03:00.0']);
    const inVm: Snapshot = { ...s, devices: s.devices.map((d) => (d.address === '0000:03:00.0' ? { ...d, openByVm: true } : d)) };
    const owned = { devices: { '0000:03:00.0': { driver: 'vfio-pci', previousDriver: 'igb', since: '2026-11-27T00:00:00Z' } } };
    const p = plan({ config: config([]), snapshot: inVm, iommu: iommuOn, owned });
    expect(p.actions).toEqual([]);
    expect(verdictOf(p.verdicts, '0000:03:00.0').reason).toContain('a VM has it open');
  });
});
