import type { ConfigError } from './config/errors.js';
import { entriesFromModprobe } from './config/modprobe.js';
import { verifyIommu } from './iommu/checks.js';
import { readIommuFacts } from './iommu/facts.js';
import type { Address, Config, IommuReport, OwnedState, Plan, Snapshot } from './model.js';
import { plan } from './plan/plan.js';
import { readHostHealth } from './health/read.js';
import { readPci } from './sysfs/read.js';

/** Observe: one pass over sysfs plus the IOMMU facts, read in parallel. */
export async function observe(root: string): Promise<Snapshot> {
  const [pci, iommu] = await Promise.all([readPci(root), readIommuFacts(root)]);
  return { ...pci, iommu, hostHealth: readHostHealth(root) };
}

export interface Assessment {
  report: IommuReport;
  plan: Plan;
  /** Malformed `ids=` entries in modprobe.d (imported devices): reported, never fatal. */
  importProblems: ConfigError[];
}

/** Pure: everything a reconcile decides, from what was read. */
export function assess(config: Config, snapshot: Snapshot, owned: OwnedState, stuck: Record<Address, string> = {}): Assessment {
  const report = verifyIommu(snapshot.iommu, snapshot.groups, snapshot.devices, config.daemon.driver);
  const imported = config.daemon.importModprobe ? entriesFromModprobe(snapshot.iommu.modprobeIds) : { entries: [], problems: [] };
  return {
    report,
    plan: plan({ config, snapshot, iommu: report, owned, imported: imported.entries, stuck }),
    importProblems: imported.problems,
  };
}
