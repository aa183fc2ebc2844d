/** Pure: the health checks of every device in a snapshot, and which findings are new since the last run. */
import type { Address, Snapshot, Verdict } from '../model.js';
import { deviceHealth, type HealthCheck } from './assess.js';

export type HealthTable = Map<Address, HealthCheck[]>;

export function healthTable(snapshot: Pick<Snapshot, 'devices' | 'hostHealth' | 'iommu'>, verdicts: Verdict[]): HealthTable {
  const managed = new Set(verdicts.filter((v) => v.managed).map((v) => v.address));
  const table: HealthTable = new Map();
  for (const d of snapshot.devices) table.set(d.address, deviceHealth(d, snapshot, managed.has(d.address)));
  return table;
}

export interface HealthFinding {
  address: Address;
  check: HealthCheck;
}

/** Warnings and failures present now that were not (with the same message) before: one journal line each. */
export function newFindings(before: HealthTable, after: HealthTable): HealthFinding[] {
  const findings: HealthFinding[] = [];
  for (const [address, checks] of after) {
    const old = new Set((before.get(address) ?? []).map((c) => `${c.name}\0${c.status}\0${c.message}`));
    for (const check of checks) {
      if (check.status !== 'pass' && !old.has(`${check.name}\0${check.status}\0${check.message}`)) findings.push({ address, check });
    }
  }
  return findings;
}
