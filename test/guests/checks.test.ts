import { describe, expect, it } from 'vitest';
import { assess } from '../../src/engine.js';
import { guestChecks } from '../../src/guests/checks.js';
import type { GuestInventory } from '../../src/guests/types.js';
import type { Config, Snapshot } from '../../src/model.js';
import { config, dev, entry, seedSnapshot } from '../plan/data.js';
import { domain, gdev, inventory, vm } from './data.js';

/** The seed host (GPU + audio in group 1, root SATA disk, uplink, spare igb NIC) with these guests. */
function host(guests: GuestInventory, edit: (s: Snapshot) => Snapshot = (s) => s): Snapshot {
  return { ...edit(seedSnapshot()), guests };
}

function checksFor(snapshot: Snapshot, cfg: Config = config([])) {
  const { report } = assess(cfg, snapshot, { devices: {} });
  return report.checks.filter((c) => c.name.startsWith('guest'));
}

describe('guest cross-checks', () => {
  it('a wanted device that is not present fails, naming the guest, the file and line', () => {
    const checks = checksFor(host(inventory([vm('100', 'win11', [gdev('0000:09:00.0')])])));
    expect(checks).toEqual([{
      name: 'guest pve/100 0000:09:00.0', status: 'fail',
      message: 'VM 100 (win11, onboot) wants 0000:09:00.0 (hostpci0, /etc/pve/qemu-server/100.conf:10), but no device is present there',
    }]);
  });

  it('a device on a host driver with no config entry warns (Proxmox unbinds late); libvirt managed=no fails', () => {
    const pve = checksFor(host(inventory([vm('101', 'nas', [gdev('0000:03:00.0')])])));
    expect(pve[0]?.status).toBe('warn');
    expect(pve[0]?.message).toContain('0000:03:00.0 is on igb and not in the config: Proxmox unbinds it only when the guest starts');
    const unmanaged = checksFor(host(inventory([domain('router', [gdev('0000:03:00.0', { managedByHypervisor: false, origin: { file: '/etc/libvirt/qemu/router.xml', line: 30, via: 'hostdev' } })])])));
    expect(unmanaged[0]?.status).toBe('fail');
    expect(unmanaged[0]?.message).toBe(
      "libvirt domain router wants 0000:03:00.0 (hostdev, /etc/libvirt/qemu/router.xml:30): 0000:03:00.0 is on igb, libvirt leaves it there (managed='no') and QEMU cannot open it; add a [[device]] entry or set follow_guests in [daemon]",
    );
  });

  it('with a config entry for it the same device passes', () => {
    const checks = checksFor(host(inventory([vm('101', 'nas', [gdev('0000:03:00.0')])])), config([entry({ address: '0000:03:00.0' })]));
    expect(checks).toEqual([{
      name: 'guest pve/101 0000:03:00.0', status: 'pass',
      message: 'VM 101 (nas, onboot) wants 0000:03:00.0 (hostpci0, /etc/pve/qemu-server/100.conf:10): ready (being bound to vfio-pci)',
    }]);
  });

  it('a device the host uses (the root disk controller) fails with what the host uses it for', () => {
    const [check] = checksFor(host(inventory([vm('101', 'nas', [gdev('0000:00:17.0')])])));
    expect(check?.status).toBe('fail');
    expect(check?.message).toContain('0000:00:17.0 (8086:a352) is used by the host (sda2 mounted on /): the guest must not get it');
  });

  it('a device whose group holds the root NVMe fails: a VM only gets whole groups', () => {
    const withNvme = (s: Snapshot): Snapshot => ({
      ...s,
      devices: [...s.devices, dev('0000:04:00.0', {
        vendorId: 0x144d, deviceId: 0xa808, classCode: 0x010802, driver: 'nvme', iommuGroup: 5,
        vendorName: 'Samsung Electronics Co Ltd', deviceName: 'NVMe SSD Controller SM981/PM981/PM983',
        inUse: [{ kind: 'mount', detail: 'nvme0n1p2 mounted on /' }],
      })],
      groups: s.groups.map((g) => (g.id === 5 ? { ...g, devices: ['0000:03:00.0', '0000:04:00.0'] } : g)),
    });
    const [check] = checksFor(host(inventory([vm('101', 'nas', [gdev('0000:03:00.0')])]), withNvme));
    expect(check?.status).toBe('fail');
    expect(check?.message).toContain(
      'IOMMU group 5 also holds 0000:04:00.0 (Samsung Electronics Co Ltd NVMe SSD Controller SM981/PM981/PM983), used by the host (nvme0n1p2 mounted on /)',
    );
  });

  it('a non-viable group fails (the GPU without its audio function); the whole slot passes', () => {
    const [one] = checksFor(host(inventory([vm('100', 'win11', [gdev('0000:01:00.0')])])), config([entry({ address: '0000:01:00.0' })]));
    expect(one?.status).toBe('fail');
    expect(one?.message).toContain('IOMMU group 1 is not viable: 0000:01:00.1 stays on snd_hda_intel');
    const whole = checksFor(host(inventory([vm('100', 'win11', [gdev('0000:01:00.0', { allFunctions: true })])])), config([entry({ address: '0000:01:00.0', functions: 'all' })]));
    expect(whole.map((c) => c.status)).toEqual(['pass']);
  });

  it('hardware changed: the device differs from the mapping\'s id=/subsystem-id= and iommugroup=', () => {
    const expected = { mapping: 'gpu', vendorId: 0x10de, deviceId: 0x1b80, subsystemVendorId: 0x1458, subsystemDeviceId: 0x3702, iommuGroup: 14 };
    const [check] = checksFor(host(inventory([vm('100', 'win11', [gdev('0000:03:00.0', { expected, origin: { file: '/etc/pve/qemu-server/100.conf', line: 13, via: 'hostpci3 (mapping gpu)' } })])])));
    expect(check?.status).toBe('fail');
    expect(check?.message).toContain(
      'hardware changed: mapping "gpu" expects id 10de:1b80, subsystem-id 1458:3702 at 0000:03:00.0, but 8086:1533 (subsystem 8086:0001) sits there; Proxmox refuses to start VM 100 (win11)',
    );
    expect(check?.message).toContain('hardware changed: mapping "gpu" expects IOMMU group 14 for 0000:03:00.0, but it is in group 5');
  });

  it('two guests that start at boot wanting the same device fail; one of them not at boot is fine', () => {
    const two = checksFor(host(inventory([vm('100', 'win11', [gdev('0000:03:00.0')]), domain('router', [gdev('0000:03:00.0')], true)])));
    expect(two.find((c) => c.name === 'guests 0000:03:00.0')).toEqual({
      name: 'guests 0000:03:00.0', status: 'fail',
      message: 'VM 100 (win11) and libvirt domain router both start at boot and want 0000:03:00.0: only the first to start gets it, the others fail; turn onboot/autostart off for all but one',
    });
    const one = checksFor(host(inventory([vm('100', 'win11', [gdev('0000:03:00.0')]), vm('102', 'spare', [gdev('0000:03:00.0')], false)])));
    expect(one.find((c) => c.name === 'guests 0000:03:00.0')).toBeUndefined();
  });

  it('a mapping with several paths takes the first present one, as Proxmox does at start', () => {
    const [check] = checksFor(host(inventory([vm('100', 'win11', [gdev(['0000:07:10.0', '0000:03:00.0'])])])));
    expect(check?.name).toBe('guest pve/100 0000:03:00.0');
  });

  it('unreadable files and an unmounted /etc/pve are warnings, never errors that stop anything', () => {
    const inv = inventory([], {
      problems: [{ file: '/etc/libvirt/qemu/bad.xml', line: 4, message: 'not well-formed XML: Unexpected close tag' }],
      sources: { pve: { state: 'unavailable', detail: '/etc/pve is empty: pmxcfs is not mounted (yet)' }, libvirt: { state: 'ok', detail: '' } },
    });
    expect(guestChecks(inv, seedSnapshot(), [])).toEqual([
      { name: 'guests pve', status: 'warn', message: "/etc/pve is empty: pmxcfs is not mounted (yet); its guests' devices are not known now (nothing is released meanwhile)" },
      { name: 'guest-config /etc/libvirt/qemu/bad.xml:4', status: 'warn', message: '/etc/libvirt/qemu/bad.xml:4: not well-formed XML: Unexpected close tag' },
    ]);
  });
});
