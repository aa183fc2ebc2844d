import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pciLabels, renderMetrics, type MetricsInput } from '../../src/metrics/render.js';
import { resolveTextfile, writeTextfile } from '../../src/metrics/textfile.js';
import { DEFAULT_DAEMON_SETTINGS } from '../../src/model.js';
import type { Verdict } from '../../src/model.js';
import { iommuOn, seedSnapshot } from '../plan/data.js';
import { promtoolCheck } from '../helpers/prometheus.js';

const verdict = (address: string, over: Partial<Verdict> = {}): Verdict => ({
  address, state: 'host', reason: '', managed: false, targetDriver: null, groupViable: null, groupBlockers: [], imported: false, ...over,
});

function input(over: Partial<MetricsInput> = {}): MetricsInput {
  const snapshot = seedSnapshot();
  return {
    version: '0.1.0',
    state: 'degraded',
    configError: false,
    report: { ...iommuOn, checks: [{ name: 'dma-remapping', status: 'pass', message: 'on' }, { name: 'vfio-modules', status: 'warn', message: 'not loaded' }] },
    snapshot,
    verdicts: [
      verdict('0000:01:00.0', { managed: true, state: 'pending', targetDriver: 'vfio-pci', groupViable: false }),
      verdict('0000:00:17.0', { managed: true, state: 'blocked', targetDriver: 'vfio-pci', reason: 'in use', groupViable: false }),
      verdict('0000:03:00.0'),
    ],
    reconcile: { lastUs: 1_700_000_000_123_456n, total: 3, failures: 1 },
    ...over,
  };
}

/** Sample lines as { "name{labels}": value }. */
function samples(text: string): Map<string, string> {
  return new Map(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.slice(0, l.lastIndexOf(' ')), l.slice(l.lastIndexOf(' ') + 1)]));
}

describe('metrics rendering (pure)', () => {
  it('is valid exposition text for promtool, with per-device series labelled like node_exporter pcidevice', async () => {
    const text = renderMetrics(input());
    const check = await promtoolCheck(text);
    expect(check.output).toBe('');
    expect(check.code).toBe(0);
    const s = samples(text);
    expect(s.get('pcie_passthroughd_device_state{segment="0000",bus="01",device="00",function="0",state="pending"}')).toBe('1');
    expect(s.get('pcie_passthroughd_device_state{segment="0000",bus="01",device="00",function="0",state="bound"}')).toBe('0');
    expect(s.get('pcie_passthroughd_device_driver_info{segment="0000",bus="01",device="00",function="0",driver="nvidia",target_driver="vfio-pci"}')).toBe('1');
    expect(s.get('pcie_passthroughd_device_on_target_driver{segment="0000",bus="00",device="17",function="0"}')).toBe('0');
    expect(s.get('pcie_passthroughd_device_group_viable{segment="0000",bus="01",device="00",function="0",iommu_group="1"}')).toBe('0');
    expect(s.get('pcie_passthroughd_managed_devices_by_state{state="blocked"}')).toBe('1');
    expect(s.get('pcie_passthroughd_check_status{check="vfio-modules"}')).toBe('1');
    expect(s.get('pcie_passthroughd_state{state="degraded"}')).toBe('1');
    expect(s.get('pcie_passthroughd_iommu_info{kind="intel-vt-d",interrupt_remapping="enabled"}')).toBe('1');
    expect(s.get('pcie_passthroughd_last_reconcile_timestamp_seconds')).toBe('1700000000.123');
    expect(s.get('pcie_passthroughd_reconciles_total')).toBe('3');
    expect(s.get('pcie_passthroughd_reconcile_failures_total')).toBe('1');
    // unmanaged devices are node_exporter's business, not ours
    expect(text).not.toContain('bus="03"');
  });

  it('escapes label values and stays valid with nothing configured and no reconcile counters (a direct read)', async () => {
    const text = renderMetrics(input({ version: '1.0 "dev"\\x', verdicts: [], report: null, snapshot: null, reconcile: null, state: 'starting' }));
    expect(text).toContain('pcie_passthroughd_info{version="1.0 \\"dev\\"\\\\x"} 1');
    expect(text).not.toContain('reconciles_total');
    expect((await promtoolCheck(text)).code).toBe(0);
  });

  it('splits an address into node_exporter pcidevice labels', () => {
    expect(pciLabels('0000:0a:1f.7')).toEqual({ segment: '0000', bus: '0a', device: '1f', function: '7' });
  });
});

describe('metrics textfile', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  it('defaults to node_exporter\'s Debian directory, used only when it exists; "" is off', async () => {
    dir = mkdtempSync(join(tmpdir(), 'textfile-'));
    const file = DEFAULT_DAEMON_SETTINGS.metricsTextfile;
    expect(file).toBe('/var/lib/prometheus/node-exporter/pcie-passthroughd.prom');
    expect(await resolveTextfile(dir, file)).toBeNull();
    mkdirSync(join(dir, 'var/lib/prometheus/node-exporter'), { recursive: true });
    expect(await resolveTextfile(dir, file)).toBe(file);
    expect(await resolveTextfile(dir, '')).toBeNull();
    expect(await resolveTextfile(dir, '/srv/metrics/ppd.prom')).toBeNull();
  });

  it('replaces the file by rename: a reader of the old file still reads it whole, no temporary file stays behind', async () => {
    dir = mkdtempSync(join(tmpdir(), 'textfile-'));
    await writeTextfile(dir, '/x.prom', 'old_metric 1\n');
    const fd = openSync(join(dir, 'x.prom'), 'r');
    try {
      await writeTextfile(dir, '/x.prom', 'new_metric 2\n');
      const buf = Buffer.alloc(64);
      const n = readSync(fd, buf, 0, 64, 0);
      expect(buf.subarray(0, n).toString()).toBe('old_metric 1\n'); // an in-place rewrite would show new or truncated text
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(join(dir, 'x.prom'), 'utf8')).toBe('new_metric 2\n');
    expect(readdirSync(dir)).toEqual(['x.prom']);
  });
});
