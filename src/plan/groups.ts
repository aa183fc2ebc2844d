import { isBridge, type Address, type Snapshot } from '../model.js';

export interface GroupFacts {
  group: number;
  /** Endpoints of the group whose (predicted) driver keeps the group from being given to a VM. */
  blockers: Address[];
  /** "0000:05:00.1 stays on snd_hda_intel", for messages. */
  describe: string;
}

/**
 * A group is viable for VFIO when every device in it is unbound or on a driver that manages DMA itself
 * (vfio-pci, pci-stub; `driver_managed_dma`): otherwise VFIO_GROUP_SET_CONTAINER fails with EPERM in
 * iommu_group_claim_dma_owner. Only PCI-to-PCI/CardBus bridges (header type 1/2, on pcieport, which
 * also manages DMA) are exempt; a host or ISA/LPC bridge on a driver (lpc_ich) blocks the group like any
 * endpoint. Computed over the drivers the plan predicts, so a device about to be bound does not block its
 * own group.
 */
export function groupViability(
  snapshot: Snapshot,
  predictedDriver: ReadonlyMap<Address, string | null>,
  safeDrivers: ReadonlySet<string>,
): Map<Address, GroupFacts> {
  const byAddress = new Map(snapshot.devices.map((d) => [d.address, d]));
  const result = new Map<Address, GroupFacts>();
  for (const g of snapshot.groups) {
    const blockers: Address[] = [];
    const parts: string[] = [];
    for (const member of g.devices) {
      const d = byAddress.get(member);
      if (!d || isBridge(d)) continue;
      const driver = predictedDriver.has(member) ? predictedDriver.get(member) ?? null : d.driver;
      if (driver !== null && !safeDrivers.has(driver)) {
        blockers.push(member);
        parts.push(`${member} stays on ${driver}`);
      }
    }
    const facts: GroupFacts = { group: g.id, blockers, describe: parts.join(', ') };
    for (const member of g.devices) result.set(member, facts);
  }
  return result;
}
