import type { ConfigError } from './config/errors.js';
import { entriesFromModprobe } from './config/modprobe.js';
import { guestChecks } from './guests/checks.js';
import { guestEntries, guestsUncertain } from './guests/follow.js';
import { readGuests } from './guests/read.js';
import { EMPTY_INVENTORY } from './guests/types.js';
import { usedByIndex, type GuestRef } from './guests/usage.js';
import { verifyIommu } from './iommu/checks.js';
import { readIommuFacts } from './iommu/facts.js';
import type { Address, Config, IommuReport, OwnedState, Plan, Snapshot } from './model.js';
import { plan } from './plan/plan.js';
import { readHostHealth } from './health/read.js';
import { readPci, type ReadPciOptions } from './sysfs/read.js';

/** Observe: one pass over sysfs plus the IOMMU facts and the guests' configuration, read in parallel. */
export async function observe(root: string, pciOptions: ReadPciOptions = {}): Promise<Snapshot> {
  const [pci, iommu, guests] = await Promise.all([readPci(root, pciOptions), readIommuFacts(root), readGuests(root)]);
  return { ...pci, iommu, hostHealth: readHostHealth(root), guests };
}

export interface Assessment {
  report: IommuReport;
  plan: Plan;
  /** Malformed `ids=` entries in modprobe.d (imported devices): reported, never fatal. */
  importProblems: ConfigError[];
  /** Address → the guests whose configuration names it (Device1.UsedBy). */
  usedBy: Map<Address, GuestRef[]>;
}

/** Pure: everything a reconcile decides, from what was read. */
export function assess(config: Config, snapshot: Snapshot, owned: OwnedState, stuck: Record<Address, string> = {}): Assessment {
  const report = verifyIommu(snapshot.iommu, snapshot.groups, snapshot.devices, config.daemon.driver);
  const imported = config.daemon.importModprobe ? entriesFromModprobe(snapshot.iommu.modprobeIds) : { entries: [], problems: [] };
  const guests = snapshot.guests ?? EMPTY_INVENTORY;
  const follow = config.daemon.followGuests ?? 'none';
  const followed = guestEntries(guests, follow, snapshot);
  // Guests that cannot be read now are unknown, not gone: release nothing meanwhile.
  const inForce = guestsUncertain(guests, follow) ? { ...config, daemon: { ...config.daemon, onRemove: 'keep' as const } } : config;
  const decided = plan({ config: inForce, snapshot, iommu: report, owned, imported: [...imported.entries, ...followed], stuck });
  return {
    report: { ...report, checks: [...report.checks, ...guestChecks(guests, snapshot, decided.verdicts)] },
    plan: decided,
    importProblems: imported.problems,
    usedBy: usedByIndex(guests, snapshot),
  };
}
