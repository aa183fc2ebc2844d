import { usedByIndex, type GuestRef } from '../guests/usage.js';
import type { DeviceProps, ManagerState, PublishedState } from '../dbus/types.js';
import { DEVICE_STATES, isProblemState, type IommuReport, type PciDevice, type Snapshot, type Verdict } from '../model.js';
import type { HealthCheck } from '../health/assess.js';
import { healthTable } from '../health/report.js';
import { withClaimChecks, type ClaimAssessment } from '../claim/assess.js';
import { formatConfigError, type ConfigError } from '../config/errors.js';

const KIND_LABEL: Record<IommuReport['kind'], string> = { 'intel-vt-d': 'Intel VT-d', 'amd-vi': 'AMD-Vi', other: 'IOMMU', none: 'none' };

export interface DaemonView {
  version: string;
  configPath: string;
  configErrors: ConfigError[];
  report: IommuReport | null;
  snapshot: Snapshot | null;
  verdicts: Verdict[];
  requireIommu: boolean;
  lastReconcileUs: bigint;
  /** Early claims after the last reconcile (claim status per device, initramfs and modprobe-ids checks). */
  claims?: ClaimAssessment | null;
}

/** ready: everything configured is bound; degraded: something is not, or the config is broken; failed: nothing can be bound. */
export function managerState(v: DaemonView): ManagerState {
  if (!v.report) return 'starting';
  const managed = v.verdicts.filter((x) => x.managed);
  if (!v.report.enabled && v.requireIommu && managed.length > 0) return 'failed';
  if (v.configErrors.length > 0) return 'degraded';
  if (managed.some((x) => x.state !== 'bound')) return 'degraded';
  if (v.report.checks.some((c) => c.status === 'fail')) return 'degraded';
  return 'ready';
}

function deviceProps(d: PciDevice | undefined, v: Verdict, health: HealthCheck[], claims: ClaimAssessment | null | undefined, usedBy: GuestRef[]): DeviceProps {
  const claim = claims?.statuses.get(v.address);
  const name = d?.vendorName && d.deviceName ? `${d.vendorName} ${d.deviceName}` : (d?.deviceName ?? d?.vendorName ?? '');
  return {
    Address: v.address,
    VendorId: d?.vendorId ?? 0,
    DeviceId: d?.deviceId ?? 0,
    SubsystemVendorId: d?.subsystemVendorId ?? 0,
    SubsystemDeviceId: d?.subsystemDeviceId ?? 0,
    Class: d?.classCode ?? 0,
    Name: name,
    Driver: d?.driver ?? '',
    DriverOverride: d?.driverOverride ?? '',
    IommuGroup: d?.iommuGroup ?? -1,
    Managed: v.managed,
    TargetDriver: v.targetDriver ?? '',
    State: v.state,
    Reason: v.reason,
    GroupViable: v.groupViable ?? false,
    ResetMethod: d?.health.resetMethods?.join(' ') ?? '',
    Resettable: d?.health.resettable ?? false,
    Health: health.map((c) => [c.name, c.status, c.message] as [string, string, string]),
    OpenByVm: d?.openByVm ?? false,
    Claim: claim?.claim ?? 'none',
    ClaimReason: claim?.reason ?? '',
    UsedBy: usedBy.map((g) => [g.source, g.id, g.name, g.onboot] as [string, string, string, boolean]),
  };
}

export function publishedState(v: DaemonView): PublishedState {
  const byAddress = new Map((v.snapshot?.devices ?? []).map((d) => [d.address, d]));
  const managed = v.verdicts.filter((x) => x.managed);
  const health = v.snapshot ? healthTable(v.snapshot, v.verdicts) : new Map<string, HealthCheck[]>();
  const usedBy = v.snapshot?.guests ? usedByIndex(v.snapshot.guests, v.snapshot) : new Map<string, GuestRef[]>();
  return {
    manager: {
      Version: v.version,
      State: managerState(v),
      IommuEnabled: v.report?.enabled ?? false,
      IommuKind: v.report?.kind ?? 'none',
      IommuGroupCount: v.report?.groupCount ?? 0,
      InterruptRemapping: v.report?.interruptRemapping ?? 'unknown',
      Checks: withClaimChecks(v.report?.checks ?? [], v.report ? (v.claims?.checks ?? []) : []).map((c) => [c.name, c.status, c.message] as [string, string, string]),
      ConfigPath: v.configPath,
      ConfigError: v.configErrors.map(formatConfigError).join('\n'),
      ManagedCount: managed.length,
      BoundCount: managed.filter((x) => x.state === 'bound').length,
      LastReconcile: v.lastReconcileUs,
    },
    devices: v.verdicts.filter((x) => byAddress.has(x.address) || x.managed).map((x) => deviceProps(byAddress.get(x.address), x, health.get(x.address) ?? [], v.claims, usedBy.get(x.address) ?? [])),
  };
}

/** The one line `systemctl status` shows, e.g. "IOMMU on (Intel VT-d, 14 groups); 2/2 devices on vfio-pci". */
export function statusLine(v: DaemonView): string {
  if (!v.report) return 'Starting…';
  const parts: string[] = [];
  parts.push(v.report.enabled ? `IOMMU on (${KIND_LABEL[v.report.kind]}, ${v.report.groupCount} groups)` : 'IOMMU off (run pcie-passthroughctl check)');
  const managed = v.verdicts.filter((x) => x.managed);
  const bound = managed.filter((x) => x.state === 'bound').length;
  const targets = [...new Set(managed.map((x) => x.targetDriver ?? ''))].filter(Boolean);
  parts.push(managed.length === 0 ? 'no devices configured' : `${bound}/${managed.length} devices on ${targets.join('/') || 'their driver'}`);
  for (const state of DEVICE_STATES.filter((s) => isProblemState(s) || s === 'pending')) {
    const n = managed.filter((x) => x.state === state).length;
    if (n) parts.push(`${n} ${state}`);
  }
  if (v.configErrors.length) {
    const e = v.configErrors[0];
    parts.push(`config error at ${e ? `${e.file}:${e.line}` : v.configPath}`);
  }
  return parts.join('; ');
}

export interface VerdictChange {
  verdict: Verdict;
  previous: Verdict | undefined;
}

/** Pure: managed devices whose state or reason changed since the last run (one log line each). */
export function verdictChanges(before: Verdict[], after: Verdict[]): VerdictChange[] {
  const old = new Map(before.map((v) => [v.address, v]));
  const changes: VerdictChange[] = [];
  for (const v of after) {
    const p = old.get(v.address);
    if (!v.managed && !p?.managed) continue;
    if (p && p.state === v.state && p.reason === v.reason && p.managed === v.managed) continue;
    changes.push({ verdict: v, previous: p });
  }
  return changes;
}
