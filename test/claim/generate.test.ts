import { describe, expect, it } from 'vitest';
import { claimFor, generateClaims, renderClaim, renderClaims, type ClaimInput } from '../../src/claim/generate.js';
import { entriesFromModprobe } from '../../src/config/modprobe.js';
import { ANY_ID } from '../../src/model.js';
import { plan } from '../../src/plan/plan.js';
import { config, dev, entry, iommuOff, iommuOn, seedSnapshot } from '../plan/data.js';

function claimsOf(cfg: ReturnType<typeof config>, opts: { iommu?: typeof iommuOn; imported?: ClaimInput['imported']; snapshot?: ReturnType<typeof seedSnapshot> } = {}): string[] {
  const snapshot = opts.snapshot ?? seedSnapshot();
  const iommu = opts.iommu ?? iommuOn;
  const imported = opts.imported ?? [];
  const p = plan({ config: cfg, snapshot, iommu, owned: { devices: {} }, imported });
  const { claims } = generateClaims({
    config: cfg, imported, devices: snapshot.devices, verdicts: p.verdicts, bindingAllowed: iommu.enabled || !cfg.daemon.requireIommu,
  });
  return claims.map(renderClaim);
}

const FILE = '/etc/pcie-passthroughd/config.toml';

describe('early claims from the config', () => {
  it('claims by address pinned to the configured vendor:device and subsystem', () => {
    const e = entry({ address: '0000:03:00.0', id: { vendor: 0x8086, device: 0x1533 }, subsystem: { vendor: 0x8086, device: 0x0001 } });
    expect(claimsOf(config([e]))).toEqual([
      `claim 0000:03:00.0 0x8086 0x1533 0x8086 0x0001 * * vfio-pci ${FILE}:${e.source.line}`,
    ]);
  });

  it('claims a bare address with no identity pin, and keeps the claim while the device is absent (hotplug, next boot)', () => {
    const e = entry({ address: '0000:09:00.0' });
    expect(claimsOf(config([e]))).toEqual([`claim 0000:09:00.0 * * * * * * vfio-pci ${FILE}:${e.source.line}`]);
  });

  it('claims by id with subsystem at any address; ANY_ID halves stay wildcards', () => {
    const e = entry({ id: { vendor: 0x10de, device: 0x0ffc }, subsystem: { vendor: 0x1043, device: ANY_ID } });
    expect(claimsOf(config([e]))).toEqual([`claim * 0x10de 0x0ffc 0x1043 * * * vfio-pci ${FILE}:${e.source.line}`]);
  });

  it('functions = "all" claims every present function of the slot, each pinned to the identity seen now', () => {
    const e = entry({ address: '0000:01:00.0', functions: 'all' });
    expect(claimsOf(config([e]))).toEqual([
      `claim 0000:01:00.0 * * * * * * vfio-pci ${FILE}:${e.source.line}`,
      `claim 0000:01:00.1 0x10de 0x0e1b 0x8086 0x0001 * * vfio-pci ${FILE}:${e.source.line} (functions = "all")`,
    ]);
  });

  it('functions = "all" for an absent slot claims the whole slot only when nothing is pinned', () => {
    const bare = entry({ address: '0000:0a:00.0', functions: 'all' });
    const pinnedEntry = entry({ address: '0000:0b:00.0', functions: 'all', id: { vendor: 0x1002, device: 0x67df } });
    expect(claimsOf(config([bare, pinnedEntry]))).toEqual([
      `claim 0000:0a:00.0 * * * * * * vfio-pci ${FILE}:${bare.source.line}`,
      `claim 0000:0b:00.0 0x1002 0x67df * * * * vfio-pci ${FILE}:${pinnedEntry.source.line}`,
      `claim 0000:0a:00.* * * * * * * vfio-pci ${FILE}:${bare.source.line} (functions = "all")`,
    ]);
  });

  it('takes the imported `options vfio-pci ids=` entries, class and mask included', () => {
    const imported = entriesFromModprobe([{ file: '/etc/modprobe.d/vfio.conf', line: 3, ids: ['10de:0ffc', '1002:67df:ffffffff:ffffffff:030000:ff0000'] }]).entries;
    const lines = claimsOf(config([]), { imported });
    expect(lines).toEqual([
      'claim * 0x10de 0x0ffc * * * * vfio-pci /etc/modprobe.d/vfio.conf:3',
      'claim * 0x1002 0x67df * * 0x030000 0xff0000 vfio-pci /etc/modprobe.d/vfio.conf:3',
    ]);
  });

  it('never claims a device the guard blocks: no claim by address, and a skip line that an id claim cannot get past', () => {
    // The root-disk controller by address, and every Intel NIC by id (the uplink eno1 is up).
    const disk = entry({ address: '0000:00:17.0' });
    const nics = entry({ id: { vendor: 0x8086, device: 0x15bc } });
    const lines = claimsOf(config([disk, nics]));
    expect(lines.filter((l) => l.startsWith('claim 0000:00:17.0'))).toEqual([]);
    expect(lines[0]).toMatch(/^skip 0000:00:17\.0 \* \* \* \* \* \* - blocked: in use by the host \(sda2 mounted on \/\)/);
    expect(lines[1]).toMatch(/^skip 0000:00:1f\.6 .* - blocked: in use by the host \(eno1 is up\)/);
    expect(lines[2]).toBe(`claim * 0x8086 0x15bc * * * * vfio-pci ${FILE}:${nics.source.line}`);
  });

  it('claims nothing at all while nothing may be bound (IOMMU off, require_iommu = true)', () => {
    expect(claimsOf(config([entry({ address: '0000:03:00.0' })]), { iommu: iommuOff })).toEqual([]);
    expect(claimsOf(config([entry({ address: '0000:03:00.0' })], { requireIommu: false }), { iommu: iommuOff })).toHaveLength(1);
  });

  it('removing a device from the config removes its claim', () => {
    const gpu = entry({ address: '0000:01:00.0', functions: 'all' });
    const nic = entry({ address: '0000:03:00.0' });
    expect(claimsOf(config([gpu, nic])).some((l) => l.startsWith('claim 0000:03:00.0'))).toBe(true);
    expect(claimsOf(config([gpu])).some((l) => l.includes('0000:03:00.0'))).toBe(false);
  });

  it('keeps every line one line of plain words: origins are flattened, odd driver names are refused', () => {
    const e = entry({ address: '0000:03:00.0', source: { file: '/etc/x\nclaim * * * * * * * evil\t#', line: 1, column: 1 } });
    const bad = entry({ address: '0000:04:00.0', driver: 'vfio-pci; rm -rf /' });
    const snapshot = seedSnapshot();
    const cfg = config([e, bad]);
    const p = plan({ config: cfg, snapshot, iommu: iommuOn, owned: { devices: {} } });
    const set = generateClaims({ config: cfg, imported: [], devices: snapshot.devices, verdicts: p.verdicts, bindingAllowed: true });
    const text = renderClaims(set.claims);
    const body = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(body).toEqual(['claim 0000:03:00.0 * * * * * * vfio-pci /etc/x claim * * * * * * * evil #:1']);
    expect(set.problems).toEqual([expect.stringContaining('driver "vfio-pci; rm -rf /" cannot be claimed early')]);
  });

  it('matches the way the helper does: exact address before slot before any, skips first, pins respected', () => {
    const gpu = entry({ address: '0000:01:00.0', id: { vendor: 0x10de, device: 0x0ffc } });
    const snapshot = seedSnapshot();
    const cfg = config([gpu]);
    const p = plan({ config: cfg, snapshot, iommu: iommuOn, owned: { devices: {} } });
    const { claims } = generateClaims({ config: cfg, imported: [], devices: snapshot.devices, verdicts: p.verdicts, bindingAllowed: true });
    expect(claimFor(claims, dev('0000:01:00.0', { vendorId: 0x10de, deviceId: 0x0ffc }))?.driver).toBe('vfio-pci');
    // Another card at the pinned address is never claimed.
    expect(claimFor(claims, dev('0000:01:00.0', { vendorId: 0x1002, deviceId: 0x67df }))).toBeNull();
  });
});
