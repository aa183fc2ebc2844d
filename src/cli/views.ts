import { usedByIndex, type GuestRef } from '../guests/usage.js';
import { formatId, hex4, isBridge, type Check, type IommuReport, type PciDevice, type Plan, type Snapshot, type Verdict } from '../model.js';
import type { ActionResult } from '../apply/apply.js';
import { resetSummary, type HealthCheck } from '../health/assess.js';
import { healthTable } from '../health/report.js';
import type { ClaimStatus } from '../claim/status.js';

/**
 * The stable JSON shapes of `pcie-passthroughctl --json` (documented in README.md). Ids are lower-case hex
 * strings as lspci prints them; absent values are null, never omitted.
 */
export interface DeviceView {
  address: string;
  vendorId: string;
  deviceId: string;
  subsystemVendorId: string;
  subsystemDeviceId: string;
  class: string;
  vendorName: string | null;
  deviceName: string | null;
  driver: string | null;
  driverOverride: string | null;
  iommuGroup: number | null;
  bridge: boolean;
  inUse: string[];
  managed: boolean;
  targetDriver: string | null;
  state: Verdict['state'];
  reason: string;
  groupViable: boolean | null;
  imported: boolean;
  /** reset_method as the kernel lists it; null when the attribute is absent. */
  resetMethods: string[] | null;
  resettable: boolean;
  /** "flr bus", "none" (cannot be reset), "disabled", "supported" (kernel without reset_method). */
  reset: string;
  health: HealthCheck[];
  /** vfio-pci `enable` reads 1: a VM (QEMU) has the device open. */
  openByVm: boolean;
  /** early | late | none (early claims); why in claimReason. */
  claim: 'early' | 'late' | 'none';
  claimReason: string;
  /** Guests whose configuration names the device (Proxmox VE, libvirt). */
  usedBy: GuestRef[];
}

export function deviceView(d: PciDevice | undefined, v: Verdict, health: HealthCheck[] = [], claim?: ClaimStatus, usedBy: GuestRef[] = []): DeviceView {
  return {
    address: v.address,
    vendorId: d ? hex4(d.vendorId) : '',
    deviceId: d ? hex4(d.deviceId) : '',
    subsystemVendorId: d ? hex4(d.subsystemVendorId) : '',
    subsystemDeviceId: d ? hex4(d.subsystemDeviceId) : '',
    class: d ? d.classCode.toString(16).padStart(6, '0') : '',
    vendorName: d?.vendorName ?? null,
    deviceName: d?.deviceName ?? null,
    driver: d?.driver ?? null,
    driverOverride: d?.driverOverride ?? null,
    iommuGroup: d?.iommuGroup ?? null,
    bridge: d ? isBridge(d) : false,
    inUse: d ? d.inUse.map((u) => u.detail) : [],
    managed: v.managed,
    targetDriver: v.targetDriver,
    state: v.state,
    reason: v.reason,
    groupViable: v.groupViable,
    imported: v.imported,
    resetMethods: d?.health.resetMethods ?? null,
    resettable: d?.health.resettable ?? false,
    reset: d ? resetSummary(d) : '',
    health,
    openByVm: d?.openByVm ?? false,
    claim: claim?.claim ?? 'none',
    claimReason: claim?.reason ?? '',
    usedBy,
  };
}

export function deviceViews(snapshot: Snapshot, plan: Plan, claims?: Map<string, ClaimStatus>): DeviceView[] {
  const byAddress = new Map(snapshot.devices.map((d) => [d.address, d]));
  const health = healthTable(snapshot, plan.verdicts);
  const usedBy = snapshot.guests ? usedByIndex(snapshot.guests, snapshot) : new Map<string, GuestRef[]>();
  return plan.verdicts.map((v) => deviceView(byAddress.get(v.address), v, health.get(v.address) ?? [], claims?.get(v.address), usedBy.get(v.address) ?? []));
}

export function deviceName(d: Pick<DeviceView, 'vendorName' | 'deviceName' | 'vendorId' | 'deviceId'>): string {
  if (d.vendorName && d.deviceName) return `${d.vendorName} ${d.deviceName}`;
  if (d.vendorName) return `${d.vendorName} device ${d.deviceId}`;
  return `device ${d.vendorId}:${d.deviceId}`;
}

export function worstStatus(checks: Check[]): Check['status'] {
  if (checks.some((c) => c.status === 'fail')) return 'fail';
  if (checks.some((c) => c.status === 'warn')) return 'warn';
  return 'pass';
}

export function checkView(report: IommuReport): object {
  return {
    status: worstStatus(report.checks),
    iommu: { enabled: report.enabled, kind: report.kind, groupCount: report.groupCount, interruptRemapping: report.interruptRemapping },
    checks: report.checks,
  };
}

export interface GroupView {
  id: number;
  type: string | null;
  viable: boolean;
  members: { address: string; id: string; driver: string | null; bridge: boolean }[];
}

/** Viable now: every endpoint on vfio-pci/pci-stub or on no driver (bridges do not count). */
export function groupViews(snapshot: Snapshot): GroupView[] {
  const byAddress = new Map(snapshot.devices.map((d) => [d.address, d]));
  return snapshot.groups.map((g) => {
    const members = g.devices.map((a) => {
      const d = byAddress.get(a);
      return { address: a, id: d ? formatId(d.vendorId, d.deviceId) : '', driver: d?.driver ?? null, bridge: d ? isBridge(d) : false };
    });
    const viable = members.every((m) => m.bridge || m.driver === null || m.driver === 'vfio-pci' || m.driver === 'pci-stub');
    return { id: g.id, type: g.type, viable, members };
  });
}

export function resultView(r: ActionResult): object {
  const a = r.action;
  return {
    action: a.kind,
    address: 'address' in a ? a.address : null,
    driver: 'driver' in a ? a.driver : null,
    outcome: r.outcome,
    message: r.message,
    errno: r.errno,
  };
}
