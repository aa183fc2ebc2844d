import { describe, expect, it } from 'vitest';
import { assess } from '../../src/engine.js';
import { parseConfig } from '../../src/config/parse.js';
import type { GuestInventory } from '../../src/guests/types.js';
import type { Config, OwnedState, Snapshot } from '../../src/model.js';
import { config, entry, seedSnapshot } from '../plan/data.js';
import { gdev, inventory, vm } from './data.js';

function host(guests: GuestInventory): Snapshot {
  const s = seedSnapshot();
  return {
    ...s,
    guests,
    devices: s.devices.map((d) => (d.address === '0000:00:17.0' ? { ...d, vendorName: 'Intel Corporation', deviceName: 'Cannon Lake PCH SATA AHCI Controller' } : d)),
  };
}

const NONE: OwnedState = { devices: {} };
const verdictOf = (a: ReturnType<typeof assess>, address: string) => a.plan.verdicts.find((v) => v.address === address);
const binds = (a: ReturnType<typeof assess>) => a.plan.actions.filter((x) => x.kind === 'bind').map((x) => ('address' in x ? x.address : ''));

describe('[daemon] follow_guests', () => {
  const guests = inventory([
    vm('100', 'win11', [gdev('0000:01:00.0', { allFunctions: true })], true),
    vm('101', 'nas', [gdev('0000:03:00.0', { origin: { file: '/etc/pve/qemu-server/101.conf', line: 3, via: 'hostpci0' } })], false),
  ]);

  it('is validated like every other key, with file:line:column', () => {
    const bad = parseConfig('[daemon]\nfollow_guests = "yes"\n', '/etc/pcie-passthroughd/config.toml');
    expect(bad).toEqual({ ok: false, errors: [{ file: '/etc/pcie-passthroughd/config.toml', line: 2, column: 17, message: 'follow_guests must be "none" or "onboot" or "all", not "yes"' }] });
    const good = parseConfig('[daemon]\nfollow_guests = "onboot"\n', '/c.toml');
    expect(good.ok && good.config.daemon.followGuests).toBe('onboot');
  });

  it('"none" (the default) binds nothing a guest asks for', () => {
    expect(binds(assess(config([]), host(guests), NONE))).toEqual([]);
  });

  it('"onboot" takes the onboot guests\' devices (the whole slot of 01:00), "all" every guest\'s', () => {
    const onboot = assess(config([], { followGuests: 'onboot' }), host(guests), NONE);
    expect(binds(onboot)).toEqual(['0000:01:00.0', '0000:01:00.1']);
    expect(verdictOf(onboot, '0000:01:00.1')).toMatchObject({ managed: true, state: 'pending', targetDriver: 'vfio-pci' });
    const all = assess(config([], { followGuests: 'all' }), host(guests), NONE);
    expect(binds(all)).toEqual(['0000:01:00.0', '0000:01:00.1', '0000:03:00.0']);
  });

  it('a config entry wins over a guest\'s (its driver, no conflict)', () => {
    const cfg = config([entry({ address: '0000:01:00.1', driver: 'pci-stub' })], { followGuests: 'all' });
    const a = assess(cfg, host(guests), NONE);
    expect(verdictOf(a, '0000:01:00.1')).toMatchObject({ state: 'pending', targetDriver: 'pci-stub' });
    expect(verdictOf(a, '0000:01:00.0')).toMatchObject({ state: 'pending', targetDriver: 'vfio-pci' });
  });

  it('a guest asking for the root-disk controller is refused, with both names in the reason', () => {
    const nas = inventory([vm('101', 'nas', [gdev('0000:00:17.0', { origin: { file: '/etc/pve/qemu-server/101.conf', line: 5, via: 'hostpci1' } })])]);
    const a = assess(config([], { followGuests: 'all' }), host(nas), NONE);
    expect(binds(a)).toEqual([]);
    expect(verdictOf(a, '0000:00:17.0')).toMatchObject({ managed: true, state: 'blocked' });
    expect(verdictOf(a, '0000:00:17.0')?.reason).toBe(
      'VM 101 (nas) (hostpci1) at /etc/pve/qemu-server/101.conf:5 asks for it, but Intel Corporation Cannon Lake PCH SATA AHCI Controller is in use by the host (sda2 mounted on /): ' +
        'a guest never gets a host device through follow_guests; remove it from the guest, or add a [[device]] entry with allow_in_use = true only if you mean it',
    );
  });

  it('a mapping\'s id= pins the identity: another card at that path is refused as hardware changed', () => {
    const expected = { mapping: 'gpu', vendorId: 0x10de, deviceId: 0x1b80, subsystemVendorId: null, subsystemDeviceId: null, iommuGroup: null };
    const a = assess(config([], { followGuests: 'all' }), host(inventory([vm('100', 'win11', [gdev('0000:03:00.0', { expected })])])), NONE);
    expect(verdictOf(a, '0000:03:00.0')?.state).toBe('blocked');
    expect(verdictOf(a, '0000:03:00.0')?.reason).toMatch(/^hardware changed: .*pins id 10de:1b80 at 0000:03:00.0, but 8086:1533/);
  });

  it('a guest\'s device that is absent is reported missing, once', () => {
    const a = assess(config([], { followGuests: 'all' }), host(inventory([vm('100', 'a', [gdev('0000:09:00.0')]), vm('102', 'b', [gdev('0000:09:00.0')])])), NONE);
    expect(a.plan.verdicts.filter((v) => v.address === '0000:09:00.0').map((v) => v.state)).toEqual(['missing']);
  });

  it('while /etc/pve cannot be read, nothing a guest had is released (unknown is not gone)', () => {
    const owned: OwnedState = { devices: { '0000:03:00.0': { driver: 'vfio-pci', previousDriver: 'igb', since: '2026-01-01T00:00:00Z' } } };
    const bound = (g: GuestInventory): Snapshot => {
      const s = host(g);
      return { ...s, devices: s.devices.map((d) => (d.address === '0000:03:00.0' ? { ...d, driver: 'vfio-pci', driverOverride: 'vfio-pci' } : d)) };
    };
    const cfg: Config = config([], { followGuests: 'all' });
    const unmounted = inventory([], { sources: { pve: { state: 'unavailable', detail: '/etc/pve is empty' }, libvirt: { state: 'absent', detail: '' } } });
    expect(assess(cfg, bound(unmounted), owned).plan.actions).toEqual([]);
    // Read and really gone: given back.
    expect(assess(cfg, bound(inventory([])), owned).plan.actions).toEqual([{ kind: 'release', address: '0000:03:00.0', from: 'vfio-pci' }]);
  });

  it('UsedBy: each device lists the guests that name it (the whole slot for 01:00)', () => {
    const a = assess(config([]), host(guests), NONE);
    expect(a.usedBy.get('0000:01:00.1')).toEqual([{ source: 'pve', id: '100', name: 'win11', onboot: true }]);
    expect(a.usedBy.get('0000:03:00.0')).toEqual([{ source: 'pve', id: '101', name: 'nas', onboot: false }]);
    expect(a.usedBy.has('0000:00:17.0')).toBe(false);
  });
});
