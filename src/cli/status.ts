/**
 * Pure: the `status` document (one shape whether the daemon answered or the devices were read directly),
 * its text form, and the Nagios/Icinga plugin verdict over it.
 */
import type { ManagerState } from '../dbus/types.js';
import { hex4, type Check, type PciDevice, type Verdict } from '../model.js';
import type { HealthCheck } from '../health/assess.js';
import { guestLabelWithStart } from '../guests/types.js';
import type { GuestRef } from '../guests/usage.js';
import { table } from './text.js';
import { deviceView, type DeviceView } from './views.js';

export interface ManagerView {
  version: string;
  state: ManagerState | string;
  iommu: { enabled: boolean; kind: string; groupCount: number; interruptRemapping: string };
  checks: Check[];
  configPath: string;
  /** Every config error, one per line; null when the config is valid. */
  configError: string | null;
  managedCount: number;
  boundCount: number;
  /** ISO 8601 time of the daemon's last reconcile; null before the first one and in a direct read. */
  lastReconcile: string | null;
}

/** Why the daemon did not answer (status then reads the devices directly). */
export type Unreachable = 'not-running' | 'not-answering' | 'bus-unreachable';

export interface StatusView {
  /** "daemon": asked over D-Bus; "direct": the daemon did not answer, sysfs and the config were read here. */
  source: 'daemon' | 'direct';
  daemon: 'running' | Unreachable;
  manager: ManagerView;
  devices: DeviceView[];
}

type Props = Record<string, unknown>;

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : Number(v ?? 0));

/** Manager1 properties (D-Bus names) → the CLI's field names. */
export function managerFromDbus(m: Props): ManagerView {
  const lastUs = num(m.LastReconcile);
  const checks = Array.isArray(m.Checks) ? (m.Checks as unknown[][]).map((c) => ({ name: str(c[0]), status: str(c[1]) as Check['status'], message: str(c[2]) })) : [];
  return {
    version: str(m.Version),
    state: str(m.State),
    iommu: { enabled: m.IommuEnabled === true, kind: str(m.IommuKind), groupCount: num(m.IommuGroupCount), interruptRemapping: str(m.InterruptRemapping) },
    checks,
    configPath: str(m.ConfigPath),
    configError: str(m.ConfigError) || null,
    managedCount: num(m.ManagedCount),
    boundCount: num(m.BoundCount),
    lastReconcile: lastUs > 0 ? new Date(Math.floor(lastUs / 1000)).toISOString() : null,
  };
}

/**
 * Device1 properties → the CLI's device view. What D-Bus does not carry (names split into vendor and
 * device, bridge, host use) comes from `local`, this process's own read of sysfs, when it has the device.
 */
export function deviceFromDbus(p: Props, local: PciDevice | undefined): DeviceView {
  const verdict: Verdict = {
    address: str(p.Address),
    state: str(p.State) as Verdict['state'],
    reason: str(p.Reason),
    managed: p.Managed === true,
    targetDriver: str(p.TargetDriver) || null,
    groupViable: num(p.IommuGroup) < 0 ? null : p.GroupViable === true,
    groupBlockers: [],
    imported: false,
  };
  const view = deviceView(local, verdict);
  return {
    ...view,
    vendorId: hex4(num(p.VendorId)),
    deviceId: hex4(num(p.DeviceId)),
    subsystemVendorId: hex4(num(p.SubsystemVendorId)),
    subsystemDeviceId: hex4(num(p.SubsystemDeviceId)),
    class: num(p.Class).toString(16).padStart(6, '0'),
    driver: str(p.Driver) || null,
    driverOverride: str(p.DriverOverride) || null,
    iommuGroup: num(p.IommuGroup) < 0 ? null : num(p.IommuGroup),
    openByVm: p.OpenByVm === true,
    claim: p.Claim === 'early' || p.Claim === 'late' ? p.Claim : 'none',
    claimReason: str(p.ClaimReason),
    resettable: p.Resettable === true,
    // Same words as `list`: the methods, "none" when the kernel cannot reset it.
    reset: p.Resettable === false ? 'none' : str(p.ResetMethod) || view.reset || '-',
    usedBy: Array.isArray(p.UsedBy)
      ? (p.UsedBy as unknown[][]).map((g) => ({ source: str(g[0]) === 'libvirt' ? 'libvirt' : 'pve', id: str(g[1]), name: str(g[2]), onboot: g[3] === true }) as GuestRef)
      : view.usedBy,
    health: Array.isArray(p.Health)
      ? (p.Health as unknown[][]).map((h) => ({ name: str(h[0]), status: str(h[1]), message: str(h[2]) }) as HealthCheck)
      : view.health,
  };
}

export function statusText(s: StatusView): string {
  const m = s.manager;
  const lines = [
    `pcie-passthroughd ${m.version}: ${s.source === 'direct' ? `not running (${UNREACHABLE_TEXT[s.daemon as Unreachable] ?? s.daemon}); read directly: ${m.state}` : m.state}`,
    `Config: ${m.configPath}`,
    `IOMMU: ${m.iommu.enabled ? `on (${m.iommu.kind}, ${m.iommu.groupCount} groups)` : 'off'}; interrupt remapping: ${m.iommu.interruptRemapping}`,
    `Devices: ${m.boundCount}/${m.managedCount} on their target driver`,
  ];
  if (m.lastReconcile) lines.push(`Last reconcile: ${m.lastReconcile}`);
  if (m.configError) lines.push(`Config error: ${m.configError}`);
  // Devices held for a VM (dropped from config, still open) belong here too.
  const managed = s.devices.filter((d) => d.managed || d.openByVm);
  if (managed.length) {
    lines.push('', table(['ADDRESS', 'DRIVER', 'RESET', 'STATE', 'CLAIM', 'REASON'], managed.map((d) => [d.address, d.driver ?? '-', d.reset || '-', `${d.state}${d.openByVm ? ', open by a VM' : ''}`, d.claim, d.reason])));
    for (const d of managed) if (d.claimReason) lines.push(`${d.address}: claimed ${d.claim}: ${d.claimReason}`);
  }
  // The dead state's reason already says what config-space found.
  const findings = s.devices.flatMap((d) => d.health
    .filter((h) => h.status !== 'pass' && !(h.name === 'config-space' && d.state === 'dead'))
    .map((h) => `${d.address}: ${h.status}: ${h.name}: ${h.message}`));
  if (findings.length) lines.push('', ...findings);
  const guests = s.devices.filter((d) => d.usedBy.length > 0).map((d) => `${d.address}: used by ${d.usedBy.map(guestLabelWithStart).join(', ')}`);
  const guestProblems = m.checks.filter((c) => c.name.startsWith('guest') && c.status !== 'pass').map((c) => `${c.status}: ${c.message}`);
  if (guests.length || guestProblems.length) lines.push('', ...guests, ...guestProblems);
  return lines.join('\n');
}

export const UNREACHABLE_TEXT: Record<Unreachable, string> = {
  'not-running': 'the daemon is not running',
  'not-answering': 'the daemon is not answering',
  'bus-unreachable': 'the system bus is not reachable',
};

// ───────────────────────────── Nagios / Icinga plugin ─────────────────────────────

/** Plugin return codes (Nagios plugin API; Icinga and the monitoring-plugins follow it). */
export const NAGIOS = { ok: 0, warning: 1, critical: 2, unknown: 3 } as const;
const NAGIOS_LABEL = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

export interface NagiosResult {
  code: (typeof NAGIOS)[keyof typeof NAGIOS];
  line: string;
}

/** Plugin output must stay on one line and must not contain the perfdata separator. */
export function oneLine(s: string): string {
  return s.replace(/\|/g, '/').replace(/\s*\n\s*/g, '; ');
}

function perfdata(m: ManagerView, devices: DeviceView[]): string {
  const managed = devices.filter((d) => d.managed);
  const count = (state: string): number => managed.filter((d) => d.state === state).length;
  const values: [string, number][] = [
    ['managed', m.managedCount],
    ['bound', m.boundCount],
    ['pending', count('pending')],
    ['blocked', count('blocked')],
    ['failed', count('failed')],
    ['missing', count('missing')],
    ['checks_warn', m.checks.filter((c) => c.status === 'warn').length],
    ['checks_fail', m.checks.filter((c) => c.status === 'fail').length],
    ['iommu_groups', m.iommu.groupCount],
  ];
  return values.map(([k, v]) => `${k}=${v};;;0`).join(' ');
}

/**
 * OK: every configured device on its target driver, no check warns. WARNING: a device blocked or missing
 * (a refusal or an absence the admin must look at), a check warns. CRITICAL: a configured device that should
 * be on its driver and is not (pending, failed, or any other state), the config invalid, the IOMMU off or a
 * check failing while devices are configured. UNKNOWN: the daemon does not answer.
 */
export function nagiosResult(s: StatusView): NagiosResult {
  const m = s.manager;
  if (s.source !== 'daemon') {
    return { code: NAGIOS.unknown, line: `PCIE-PASSTHROUGH UNKNOWN - ${UNREACHABLE_TEXT[s.daemon as Unreachable] ?? s.daemon}` };
  }
  const managed = s.devices.filter((d) => d.managed);
  const critical: string[] = [];
  const warning: string[] = [];
  if (m.configError) critical.push(`config error: ${m.configError.split('\n')[0] ?? ''}`);
  if (managed.length > 0 && !m.iommu.enabled) critical.push('IOMMU is off');
  for (const d of managed) {
    if (d.state === 'bound' || d.state === 'host') continue;
    const problem = `${d.address} ${d.state}${d.reason ? ` (${d.reason})` : ''}`;
    (d.state === 'blocked' || d.state === 'missing' ? warning : critical).push(problem);
  }
  for (const c of m.checks) {
    if (c.status === 'fail' && !(c.name === 'dma-remapping' && critical.includes('IOMMU is off'))) (managed.length > 0 ? critical : warning).push(`check ${c.name} fails`);
    if (c.status === 'warn') warning.push(`check ${c.name} warns`);
  }
  const code = critical.length ? NAGIOS.critical : warning.length ? NAGIOS.warning : NAGIOS.ok;
  const targets = [...new Set(managed.map((d) => d.targetDriver).filter(Boolean))].join('/') || 'their target driver';
  const summary = m.managedCount === 0 ? 'no devices configured' : `${m.boundCount}/${m.managedCount} devices on ${targets}`;
  const problems = [...critical, ...warning];
  const text = oneLine(`${summary}${problems.length ? `; ${problems.join('; ')}` : ''}`);
  return { code, line: `PCIE-PASSTHROUGH ${NAGIOS_LABEL[code]} - ${text} | ${perfdata(m, s.devices)}` };
}
