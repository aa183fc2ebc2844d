/**
 * Pure: the Prometheus text exposition (format 0.0.4) of what the daemon knows. The same text is printed by
 * `pcie-passthroughctl metrics` and written by the daemon to node_exporter's textfile directory.
 *
 * Per-device series carry node_exporter's own PCI labels (its pcidevice collector: segment="0000",
 * bus="01", device="00", function="0", lower-case hex as in the sysfs name), so they join
 * `node_pcidevice_*` with `on(segment, bus, device, function)`.
 */
import type { ManagerState } from '../dbus/types.js';
import { DEVICE_STATES, type IommuReport, type Snapshot, type Verdict } from '../model.js';

export interface MetricsInput {
  version: string;
  state: ManagerState;
  configError: boolean;
  report: IommuReport | null;
  snapshot: Snapshot | null;
  verdicts: Verdict[];
  /** Only the daemon counts reconciles; a direct read (`pcie-passthroughctl metrics`) has none. */
  reconcile: { lastUs: bigint; total: number; failures: number } | null;
}

export const MANAGER_STATES: readonly ManagerState[] = ['starting', 'ready', 'degraded', 'failed'];
/** Every device state, from the model (exhaustive there), so a new state gets its series here too. */
export { DEVICE_STATES };
const CHECK_VALUE = { pass: 0, warn: 1, fail: 2 } as const;

type Labels = Record<string, string>;
interface Family {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  samples: { labels: Labels; value: number }[];
}

/** Label values escape backslash, double quote and newline (exposition format). */
function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** "0000:01:00.0" → node_exporter's pcidevice labels. */
export function pciLabels(address: string): Labels {
  const m = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/.exec(address);
  if (!m) return { segment: '', bus: '', device: '', function: '' };
  return { segment: m[1] ?? '', bus: m[2] ?? '', device: m[3] ?? '', function: m[4] ?? '' };
}

function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

function formatFamily(f: Family): string {
  const lines = [`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`];
  for (const s of f.samples) {
    const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
    lines.push(`${f.name}${labels ? `{${labels}}` : ''} ${formatValue(s.value)}`);
  }
  return lines.join('\n');
}

const P = 'pcie_passthroughd';
const bool = (b: boolean): number => (b ? 1 : 0);

export function metricFamilies(m: MetricsInput): Family[] {
  const byAddress = new Map((m.snapshot?.devices ?? []).map((d) => [d.address, d]));
  const managed = m.verdicts.filter((v) => v.managed);
  const states = [...DEVICE_STATES, ...managed.map((v) => v.state).filter((s) => !DEVICE_STATES.includes(s))];
  const families: Family[] = [
    { name: `${P}_info`, type: 'gauge', help: 'Version of pcie-passthroughd; always 1.', samples: [{ labels: { version: m.version }, value: 1 }] },
    {
      name: `${P}_state`, type: 'gauge', help: 'Overall state (starting, ready, degraded, failed): 1 for the current one.',
      samples: MANAGER_STATES.map((s) => ({ labels: { state: s }, value: bool(s === m.state) })),
    },
    { name: `${P}_config_error`, type: 'gauge', help: '1 when the config file is invalid (the last good one stays in force).', samples: [{ labels: {}, value: bool(m.configError) }] },
    { name: `${P}_iommu_enabled`, type: 'gauge', help: '1 when DMA remapping is really on (IOMMU groups exist).', samples: [{ labels: {}, value: bool(m.report?.enabled ?? false) }] },
    {
      name: `${P}_iommu_info`, type: 'gauge', help: 'IOMMU kind and interrupt remapping state; always 1.',
      samples: [{ labels: { kind: m.report?.kind ?? 'none', interrupt_remapping: m.report?.interruptRemapping ?? 'unknown' }, value: 1 }],
    },
    { name: `${P}_iommu_groups`, type: 'gauge', help: 'Number of IOMMU groups.', samples: [{ labels: {}, value: m.report?.groupCount ?? 0 }] },
    {
      name: `${P}_check_status`, type: 'gauge', help: 'Result of each IOMMU check: 0 pass, 1 warn, 2 fail.',
      samples: (m.report?.checks ?? []).map((c) => ({ labels: { check: c.name }, value: CHECK_VALUE[c.status] })),
    },
    { name: `${P}_managed_devices`, type: 'gauge', help: 'Devices the config (or modprobe.d ids=) asks for.', samples: [{ labels: {}, value: managed.length }] },
    {
      name: `${P}_managed_devices_by_state`, type: 'gauge', help: 'Managed devices in each state.',
      samples: states.map((s) => ({ labels: { state: s }, value: managed.filter((v) => v.state === s).length })),
    },
    {
      name: `${P}_device_state`, type: 'gauge', help: 'State of each managed device: 1 for the current one.',
      samples: managed.flatMap((v) => states.map((s) => ({ labels: { ...pciLabels(v.address), state: s }, value: bool(v.state === s) }))),
    },
    {
      name: `${P}_device_driver_info`, type: 'gauge', help: 'Driver a managed device is on ("" for none) and the one the config wants; always 1.',
      samples: managed.map((v) => ({ labels: { ...pciLabels(v.address), driver: byAddress.get(v.address)?.driver ?? '', target_driver: v.targetDriver ?? '' }, value: 1 })),
    },
    {
      name: `${P}_device_on_target_driver`, type: 'gauge', help: '1 when a managed device is on the driver the config wants.',
      samples: managed.map((v) => ({ labels: pciLabels(v.address), value: bool(v.targetDriver !== null && byAddress.get(v.address)?.driver === v.targetDriver) })),
    },
    {
      name: `${P}_device_group_viable`, type: 'gauge', help: '1 when the IOMMU group of a managed device could be given to a VM now.',
      samples: managed.filter((v) => v.groupViable !== null).map((v) => ({
        labels: { ...pciLabels(v.address), iommu_group: String(byAddress.get(v.address)?.iommuGroup ?? '') }, value: bool(v.groupViable === true),
      })),
    },
  ];
  if (m.reconcile) {
    families.push(
      {
        name: `${P}_last_reconcile_timestamp_seconds`, type: 'gauge', help: 'When the last reconcile finished (Unix time).',
        samples: [{ labels: {}, value: Number(m.reconcile.lastUs / 1000n) / 1000 }],
      },
      { name: `${P}_reconciles_total`, type: 'counter', help: 'Reconciles run since the daemon started.', samples: [{ labels: {}, value: m.reconcile.total }] },
      {
        name: `${P}_reconcile_failures_total`, type: 'counter', help: 'Reconciles since the daemon started in which an action failed or that could not finish.',
        samples: [{ labels: {}, value: m.reconcile.failures }],
      },
    );
  }
  return families;
}

/** The exposition text, ending in a newline (node_exporter's textfile parser wants one). */
export function renderMetrics(m: MetricsInput): string {
  return `${metricFamilies(m).map(formatFamily).join('\n')}\n`;
}
