import { describe, expect, it } from 'vitest';
import { withEarlyClaims } from '../../src/apply/owned.js';

const NOW = new Date('2026-12-02T00:00:00Z');
const records = new Map([['0000:01:00.0', { driver: 'vfio-pci', hostDriver: null }], ['0000:02:00.0', { driver: 'vfio-pci', hostDriver: 'e1000e' }]]);

describe('devices taken by the early-claim helper count as ours', () => {
  it('adds a claimed device still on the claimed driver, so a config drop releases it', () => {
    const owned = withEarlyClaims({ devices: {} }, records, (a) => (a === '0000:01:00.0' ? 'vfio-pci' : 'e1000e'), NOW);
    expect(owned.devices).toEqual({ '0000:01:00.0': { driver: 'vfio-pci', previousDriver: null, since: NOW.toISOString() } });
  });
  it('keeps what the daemon recorded itself, and changes nothing when there is nothing to add', () => {
    const mine = { devices: { '0000:01:00.0': { driver: 'vfio-pci', previousDriver: 'bochs-drm', since: 'x' } } };
    expect(withEarlyClaims(mine, records, () => 'e1000e', NOW)).toBe(mine);
    expect(withEarlyClaims(mine, records, () => 'vfio-pci', NOW).devices['0000:01:00.0']?.previousDriver).toBe('bochs-drm');
  });
});
