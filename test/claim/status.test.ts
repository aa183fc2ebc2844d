import { describe, expect, it } from 'vitest';
import { globMatch, initramfsVerdict, modulesForAlias, type InitramfsFacts } from '../../src/claim/initramfs.js';
import { modprobeIdsCheck } from '../../src/claim/assess.js';
import { claimStatus, parseClaimRecord, type ClaimFacts } from '../../src/claim/status.js';
import type { Claim } from '../../src/claim/generate.js';
import type { Verdict } from '../../src/model.js';
import { dev, facts } from '../plan/data.js';

const bound: Verdict = {
  address: '0000:01:00.0', state: 'bound', reason: 'on vfio-pci', managed: true, targetDriver: 'vfio-pci',
  groupViable: true, groupBlockers: [], imported: false,
};

function claimFacts(over: Partial<ClaimFacts> = {}): ClaimFacts {
  return { records: new Map(), owned: { devices: {} }, builtinDrivers: new Set(), staleInitramfsModules: new Set(), claimed: () => true, ...over };
}

const record = (over: Record<string, string> = {}): ReturnType<typeof parseClaimRecord> =>
  parseClaimRecord(Object.entries({ stage: 'boot', host_driver: '-', driver: 'vfio-pci', uptime: '2.51', origin: 'config.toml:3', ...over }).map(([k, v]) => `${k}=${v}`).join('\n'));

describe('claim status of a device this boot', () => {
  const onVfio = dev('0000:01:00.0', { driver: 'vfio-pci', driverOverride: 'vfio-pci' });

  it('early: the helper claimed it at add and no host driver ever had it', () => {
    const s = claimStatus(bound, onVfio, claimFacts({ records: new Map([['0000:01:00.0', record()!]]) }));
    expect(s).toEqual({ claim: 'early', reason: 'claimed at boot (config.toml:3); never on a host driver' });
  });

  it('late, built-in driver: it binds during enumeration, so no claim can be first', () => {
    const owned = { devices: { '0000:01:00.0': { driver: 'vfio-pci', previousDriver: 'bochs-drm', since: 'x' } } };
    const s = claimStatus(bound, onVfio, claimFacts({ owned, builtinDrivers: new Set(['bochs-drm']) }));
    expect(s.claim).toBe('late');
    expect(s.reason).toBe('bochs-drm bound first: bochs-drm is built into the kernel and binds while the bus is enumerated, before any claim can run');
  });

  it('late, stale initramfs: names the command', () => {
    const owned = { devices: { '0000:01:00.0': { driver: 'vfio-pci', previousDriver: 'amdgpu', since: 'x' } } };
    const s = claimStatus(bound, onVfio, claimFacts({ owned, staleInitramfsModules: new Set(['amdgpu']) }));
    expect(s.reason).toContain('amdgpu was loaded from an initramfs that has no claim for this device (run `pcie-passthroughctl initramfs --update`)');
  });

  it('late, hot-add with the driver loaded: the helper found the host driver already bound', () => {
    const owned = { devices: { '0000:01:00.0': { driver: 'vfio-pci', previousDriver: 'xhci_hcd', since: 'x' } } };
    const s = claimStatus(bound, onVfio, claimFacts({ owned, records: new Map([['0000:01:00.0', record({ stage: 'udev', host_driver: 'xhci_hcd' })!]]) }));
    expect(s.reason).toBe("xhci_hcd bound first: xhci_hcd was loaded already and took the device inside the kernel's device_add, before udev's rules ran (claim at udev)");
  });

  it('late, configured after the device appeared: no claim ran at add', () => {
    const owned = { devices: { '0000:01:00.0': { driver: 'vfio-pci', previousDriver: 'e1000e', since: 'x' } } };
    expect(claimStatus(bound, onVfio, claimFacts({ owned })).reason).toMatch(/^e1000e bound first: no early claim covered it when it appeared/);
  });

  it('a device still on its host driver is late already; unmanaged devices have no claim', () => {
    const pending: Verdict = { ...bound, state: 'pending' };
    expect(claimStatus(pending, dev('0000:01:00.0', { driver: 'bochs-drm' }), claimFacts()).claim).toBe('late');
    expect(claimStatus({ ...bound, managed: false, targetDriver: null, state: 'host' }, onVfio, claimFacts())).toEqual({ claim: 'none', reason: '' });
  });

  it('reads the helper\'s record, "-" meaning no host driver', () => {
    expect(record()).toEqual({ stage: 'boot', hostDriver: null, driver: 'vfio-pci', uptime: 2.51, origin: 'config.toml:3' });
    expect(parseClaimRecord('garbage')).toBeNull();
  });
});

describe('initramfs staleness', () => {
  const claims = '# header\nclaim 0000:01:00.0 * * * * * * vfio-pci config.toml:3\n';
  const base: InitramfsFacts = { kernelRelease: '6.1.0-57-amd64', initrdExists: true, recordedClaims: claims, recordedModules: ['ahci', 'nvme', 'amdgpu'] };
  const gpu = new Map([['0000:01:00.0', 'amdgpu']]);

  it('current when the image carries the same claim lines (comments do not count)', () => {
    expect(initramfsVerdict({ ...base, recordedClaims: `# other header\n${claims}` }, claims, gpu).state).toBe('current');
  });

  it('stale when the claims changed and the image loads a claimed device\'s host driver: warns with the exact command', () => {
    const v = initramfsVerdict({ ...base, recordedClaims: '' }, claims, gpu);
    expect(v.state).toBe('stale');
    expect(v.staleModules).toEqual(new Set(['amdgpu']));
    expect(v.check.status).toBe('warn');
    expect(v.check.message).toContain('loads the host driver of 0000:01:00.0 (amdgpu)');
    expect(v.check.message).toContain('pcie-passthroughctl initramfs --update (runs update-initramfs -u -k 6.1.0-57-amd64)');
  });

  it('not needed when the host driver is not in the image (the root file system\'s rule claims first)', () => {
    const v = initramfsVerdict({ ...base, recordedClaims: '' }, claims, new Map([['0000:01:00.0', 'bochs']]));
    expect(v.state).toBe('not-needed');
    expect(v.check.status).toBe('pass');
  });

  it('unknown (warns) for an image built before the hook, only when there are claims; nothing to say without an initramfs', () => {
    expect(initramfsVerdict({ ...base, recordedClaims: null, recordedModules: null }, claims, gpu).check.status).toBe('warn');
    expect(initramfsVerdict({ ...base, recordedClaims: null, recordedModules: null }, '# none\n', gpu).check.status).toBe('pass');
    expect(initramfsVerdict({ ...base, initrdExists: false }, claims, gpu).state).toBe('none');
  });

  it('finds the host module of a device from modules.alias the way kmod matches aliases', () => {
    const aliases = 'alias pci:v00001234d00001111sv*sd*bc03sc00i00* bochs\nalias pci:v*d*sv*sd*bc04sc03i* snd_hda_intel\nalias usb:v* other\n';
    expect(modulesForAlias(aliases, 'pci:v00001234d00001111sv00001AF4sd00001100bc03sc00i00')).toEqual(['bochs']);
    expect(modulesForAlias(aliases, 'pci:v00008086d0000293Esv00001AF4sd00001100bc04sc03i00')).toEqual(['snd_hda_intel']);
    expect(globMatch('pci:v0000[12]*', 'pci:v00001x')).toBe(true);
    expect(globMatch('a.b', 'axb')).toBe(false);
  });
});

describe('check: `options vfio-pci ids=` with early claims', () => {
  const ids = { ...facts, modprobeIds: [{ file: '/etc/modprobe.d/vfio.conf', line: 1, ids: ['10de:0ffc'] }] };
  const base = { name: 'modprobe-ids', status: 'pass' as const, message: 'old advice' };
  const byId: Claim = { kind: 'claim', address: null, vendor: 0x10de, device: 0x0ffc, subsystemVendor: null, subsystemDevice: null, classMatch: null, driver: 'vfio-pci', origin: 'config.toml:3' };

  it('advises deleting the lines only when config.toml\'s claims cover the same devices, and keeps disable_vga', () => {
    const c = modprobeIdsCheck(base, ids, [byId], []);
    expect(c?.message).toContain('cover the same devices, so these lines are no longer needed: delete them');
    expect(c?.message).toContain('`options vfio-pci disable_vga=1`');
  });

  it('otherwise says to keep them', () => {
    const c = modprobeIdsCheck(base, ids, [], [dev('0000:01:00.0', { vendorId: 0x10de, deviceId: 0x0ffc })]);
    expect(c?.message).toContain('keep these lines: they claim 10de:0ffc');
    expect(c?.message).not.toContain('delete them');
  });
});
