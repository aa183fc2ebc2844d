/** Early claims for the devices follow_guests manages (Proxmox/libvirt guest configs): config entries win, same guard. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assessClaims, type ClaimAssessment } from '../../src/claim/assess.js';
import { claimLines } from '../../src/claim/initramfs.js';
import { assess } from '../../src/engine.js';
import type { GuestInventory } from '../../src/guests/types.js';
import type { Config, FollowGuests, Snapshot } from '../../src/model.js';
import { config, entry, seedSnapshot } from '../plan/data.js';
import { gdev, inventory, vm } from '../guests/data.js';

// Nothing under it: no claim records, no initramfs, no modules (the claims themselves need no files).
const root = mkdtempSync(join(tmpdir(), 'ppd-claim-guests-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const FILE = '/etc/pcie-passthroughd/config.toml';
const WIN11 = '/etc/pve/qemu-server/100.conf';

async function claims(cfg: Config, guests: GuestInventory): Promise<ClaimAssessment> {
  const snapshot: Snapshot = { ...seedSnapshot(), guests };
  const { plan, report } = assess(cfg, snapshot, { devices: {} });
  return assessClaims(root, { config: cfg, snapshot, verdicts: plan.verdicts, report, owned: { devices: {} } });
}
const lines = async (cfg: Config, guests: GuestInventory): Promise<string[]> => claimLines((await claims(cfg, guests)).text);
const following = (mode: FollowGuests, devices: Config['devices'] = []): Config => config(devices, { followGuests: mode });

const guests = inventory([
  vm('100', 'win11', [gdev('0000:01:00.0', { allFunctions: true, origin: { file: WIN11, line: 7, via: 'hostpci0' } })], true),
  vm('101', 'nas', [gdev('0000:03:00.0', { origin: { file: '/etc/pve/qemu-server/101.conf', line: 3, via: 'hostpci0' } })], false),
]);

describe('early claims for follow_guests', () => {
  it('claims every function a followed guest names, saying which guest asked', async () => {
    expect(await lines(following('all'), guests)).toEqual([
      `claim 0000:01:00.0 * * * * * * vfio-pci ${WIN11}:7 (VM 100 (win11) (hostpci0))`,
      `claim 0000:01:00.1 0x10de 0x0e1b 0x8086 0x0001 * * vfio-pci ${WIN11}:7 (functions = "all") (VM 100 (win11) (hostpci0))`,
      'claim 0000:03:00.0 * * * * * * vfio-pci /etc/pve/qemu-server/101.conf:3 (VM 101 (nas) (hostpci0))',
    ]);
  });

  it('follows the mode: "onboot" only the guests that start at boot, "none" no guest at all', async () => {
    expect((await lines(following('onboot'), guests)).map((l) => l.split(' ')[1])).toEqual(['0000:01:00.0', '0000:01:00.1']);
    expect(await lines(following('none'), guests)).toEqual([]);
  });

  it('a mapping\'s id= and subsystem-id= pin the claim: another card at that path is never claimed', async () => {
    const expected = { mapping: 'nic', vendorId: 0x8086, deviceId: 0x1533, subsystemVendorId: 0x8086, subsystemDeviceId: 0x0001, iommuGroup: null };
    const mapped = inventory([vm('102', 'fw', [gdev('0000:03:00.0', { expected, origin: { file: '/etc/pve/qemu-server/102.conf', line: 4, via: 'hostpci0 (mapping nic)' } })])]);
    expect(await lines(following('all'), mapped)).toEqual([
      'claim 0000:03:00.0 0x8086 0x1533 0x8086 0x0001 * * vfio-pci /etc/pve/qemu-server/102.conf:4 (VM 102 (fw) (hostpci0 (mapping nic)))',
    ]);
  });

  it('a config entry wins over a guest\'s: its driver, and no guest line for a device the entry names', async () => {
    const stub = entry({ address: '0000:01:00.1', driver: 'pci-stub' });
    expect(await lines(following('all', [stub]), guests)).toEqual([
      `claim 0000:01:00.0 * * * * * * vfio-pci ${WIN11}:7 (VM 100 (win11) (hostpci0))`,
      `claim 0000:01:00.1 * * * * * * pci-stub ${FILE}:${stub.source.line}`,
      'claim 0000:03:00.0 * * * * * * vfio-pci /etc/pve/qemu-server/101.conf:3 (VM 101 (nas) (hostpci0))',
    ]);
  });

  it('a config entry whose identity pin refuses the card there leaves no guest line to claim it anyway', async () => {
    const pinnedElsewhere = entry({ address: '0000:03:00.0', id: { vendor: 0x8086, device: 0x10fb } });
    const only = inventory([vm('101', 'nas', [gdev('0000:03:00.0')])]);
    // The planner refuses the changed card (blocked: hardware changed), so it is skipped outright.
    expect(await lines(following('all', [pinnedElsewhere]), only)).toEqual([
      expect.stringMatching(/^skip 0000:03:00\.0 \* \* \* \* \* \* - blocked: hardware changed: /),
    ]);
  });

  it('a config entry by id covers the devices it matches: a guest naming one of them adds no line', async () => {
    const byId = entry({ id: { vendor: 0x8086, device: 0x1533 } });
    const only = inventory([vm('101', 'nas', [gdev('0000:03:00.0')])]);
    // (The seed's other 8086:1533 devices are host-owned or bridges: skipped, as for any id entry.)
    expect((await lines(following('all', [byId]), only)).filter((l) => l.startsWith('claim '))).toEqual([`claim * 0x8086 0x1533 * * * * vfio-pci ${FILE}:${byId.source.line}`]);
  });

  it('a guest asking for a device the host uses (the root disk controller) gets a skip, never a claim', async () => {
    const nas = inventory([vm('101', 'nas', [gdev('0000:00:17.0')])]);
    const out = await lines(following('all'), nas);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^skip 0000:00:17\.0 \* \* \* \* \* \* - blocked: .*in use by the host/);
  });

  it('while a followed source cannot be read (pmxcfs not mounted) the claims file is held, not rewritten without its guests', async () => {
    const unmounted = inventory([], { sources: { pve: { state: 'unavailable', detail: '/etc/pve is empty: pmxcfs is not mounted (yet)' }, libvirt: { state: 'absent', detail: '' } } });
    expect((await claims(following('all'), unmounted)).hold).toBe('the guest configuration cannot be read now (pve: /etc/pve is empty: pmxcfs is not mounted (yet))');
    expect((await claims(following('none'), unmounted)).hold).toBeNull();
    expect((await claims(following('all'), guests)).hold).toBeNull();
  });
});
