/**
 * Pure: which devices are waiting on a process (an unbind that hung, a release held back because a VM
 * has the device or its IOMMU group open), so the holder scan runs for those only, and how the answer
 * is added to their verdicts.
 */
import type { Address, OwnedState, PciDevice, Snapshot, Verdict } from '../model.js';
import { describeHolders, type Holder } from '../sysfs/holders.js';

export function waitingDevices(snapshot: Pick<Snapshot, 'devices'>, verdicts: Verdict[], owned: OwnedState, stuck: ReadonlySet<Address>): PciDevice[] {
  const byAddress = new Map(snapshot.devices.map((d) => [d.address, d]));
  const openGroups = new Set(snapshot.devices.filter((d) => d.openByVm && d.iommuGroup !== null).map((d) => d.iommuGroup));
  const out: PciDevice[] = [];
  for (const v of verdicts) {
    const d = byAddress.get(v.address);
    if (!d) continue;
    const hung = v.state === 'failed' && stuck.has(v.address);
    // A release that waits: ours, no longer configured, and it or a group member is open by a VM.
    const mine = owned.devices[v.address];
    const held = v.state === 'host' && mine !== undefined && d.driver === mine.driver && (d.openByVm || openGroups.has(d.iommuGroup));
    if (hung || held) out.push(d);
  }
  return out;
}

/** Each waiting device's reason gains "; held by …" (nothing added when no process has it open). */
export function withHolders(verdicts: Verdict[], holders: Map<Address, Holder[]>): Verdict[] {
  return verdicts.map((v) => {
    const h = holders.get(v.address);
    return h && h.length > 0 ? { ...v, reason: `${v.reason}; held by ${describeHolders(h)}` } : v;
  });
}
