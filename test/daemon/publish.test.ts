import { describe, expect, it } from 'vitest';
import { managerState, publishedState, statusLine, verdictChanges, type DaemonView } from '../../src/daemon/publish.js';
import type { Verdict } from '../../src/model.js';
import { iommuOff, iommuOn, seedSnapshot } from '../plan/data.js';

const v = (address: string, state: Verdict['state'], managed = true, reason = ''): Verdict => ({
  address, state, reason, managed, targetDriver: managed ? 'vfio-pci' : null, groupViable: true, groupBlockers: [], imported: false,
});

function view(over: Partial<DaemonView>): DaemonView {
  return {
    version: '1.2.3', configPath: '/etc/pcie-passthroughd/config.toml', configErrors: [], report: iommuOn, snapshot: seedSnapshot(),
    verdicts: [], requireIommu: true, lastReconcileUs: 1_700_000_000_000_000n, ...over,
  };
}

describe('what the daemon publishes', () => {
  it('the systemctl status line counts devices on their driver', () => {
    const s = statusLine(view({ report: { ...iommuOn, groupCount: 14 }, verdicts: [v('0000:01:00.0', 'bound'), v('0000:01:00.1', 'bound'), v('0000:03:00.0', 'host', false)] }));
    expect(s).toBe('IOMMU on (Intel VT-d, 14 groups); 2/2 devices on vfio-pci');
  });

  it('the status line names problems and the config error position', () => {
    const s = statusLine(view({
      report: iommuOff, verdicts: [v('0000:01:00.0', 'blocked')],
      configErrors: [{ file: '/etc/pcie-passthroughd/config.toml', line: 7, column: 3, message: 'unknown key' }],
    }));
    expect(s).toBe('IOMMU off (run pcie-passthroughctl check); 0/1 devices on vfio-pci; 1 blocked; config error at /etc/pcie-passthroughd/config.toml:7');
  });

  it('manager state: starting, ready, degraded, failed', () => {
    expect(managerState(view({ report: null }))).toBe('starting');
    expect(managerState(view({ verdicts: [v('0000:01:00.0', 'bound')] }))).toBe('ready');
    expect(managerState(view({ verdicts: [v('0000:01:00.0', 'missing')] }))).toBe('degraded');
    expect(managerState(view({ verdicts: [v('0000:01:00.0', 'bound')], configErrors: [{ file: 'c', line: 1, column: 1, message: 'x' }] }))).toBe('degraded');
    expect(managerState(view({ report: iommuOff, verdicts: [v('0000:01:00.0', 'blocked')] }))).toBe('failed');
    // No IOMMU but nothing configured: nothing is wrong yet.
    expect(managerState(view({ report: { ...iommuOff, checks: [] }, verdicts: [] }))).toBe('ready');
  });

  it('device objects carry typed ids, group -1 when none, and counts match', () => {
    const p = publishedState(view({ verdicts: [v('0000:01:00.0', 'bound'), v('0000:0a:00.0', 'missing'), v('0000:03:00.0', 'host', false)] }));
    expect(p.manager).toMatchObject({ ManagedCount: 2, BoundCount: 1, State: 'degraded', Version: '1.2.3' });
    const gpu = p.devices.find((d) => d.Address === '0000:01:00.0');
    expect(gpu).toMatchObject({ VendorId: 0x10de, DeviceId: 0x0ffc, Class: 0x030000, IommuGroup: 1, Managed: true, State: 'bound' });
    const missing = p.devices.find((d) => d.Address === '0000:0a:00.0');
    expect(missing).toMatchObject({ IommuGroup: -1, VendorId: 0, State: 'missing' });
  });

  it('logs only changes of managed devices', () => {
    const before = [v('0000:01:00.0', 'pending'), v('0000:03:00.0', 'host', false)];
    const after = [v('0000:01:00.0', 'bound'), v('0000:03:00.0', 'host', false)];
    expect(verdictChanges(before, after).map((c) => c.verdict.address)).toEqual(['0000:01:00.0']);
    expect(verdictChanges(after, after)).toEqual([]);
  });
});
