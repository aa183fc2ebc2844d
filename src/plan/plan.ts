import {
  compareAddresses, isBridge, isPlatformBridge, type Action, type Address, type Config, type DeviceEntry, type IommuReport, type OwnedState, type PciDevice,
  type Plan, type Snapshot, type Verdict,
} from '../model.js';
import { deadReason } from '../health/assess.js';
import { groupViability } from './groups.js';
import { selectDevices, type Want } from './select.js';

export interface PlanInput {
  config: Config;
  snapshot: Snapshot;
  iommu: IommuReport;
  /** Devices this tool bound earlier (state file): the only ones `on_remove = "release"` gives back. */
  owned: OwnedState;
  /** Entries imported from modprobe.d `ids=` (already filtered by import_modprobe). */
  imported?: DeviceEntry[];
  /** Devices not to touch again until something changes (e.g. an unbind that hung), with the reason. */
  stuck?: Record<Address, string>;
}

/** Drivers that leave a group viable for VFIO (drivers/vfio/group.c accepts these besides no driver). */
const VFIO_SAFE_DRIVERS = new Set(['vfio-pci', 'pci-stub']);

function refusal(d: PciDevice, want: Want, iommu: IommuReport, requireIommu: boolean, noIommuGroups: ReadonlySet<number>): string | null {
  if (want.conflict) return want.conflict;
  if (want.resetMethod !== null && d.health.resetMethods === null) {
    return `reset_method is configured (${want.origin}), but the kernel offers no reset_method for this device (Linux 5.15+ has it for every function it can reset): remove reset_method from its entry or boot a newer kernel`;
  }
  if (want.identityMismatch) return want.identityMismatch;
  if (isBridge(d)) {
    const kind = d.headerType === 2 ? 'CardBus' : 'PCI-to-PCI';
    return `is a ${kind} bridge (header type ${d.headerType}): vfio-pci refuses it with EINVAL; pass through the devices behind it instead`;
  }
  if (isPlatformBridge(d)) {
    const kind = d.classCode >> 8 === 0x0600 ? 'host bridge' : 'ISA/LPC bridge';
    return `is the platform's ${kind} (class ${(d.classCode >> 8).toString(16).padStart(4, '0')}): the host needs it (firmware, SMBus, TPM, timers), so it is never passed through`;
  }
  if (d.sriovNumVfs !== null && d.sriovNumVfs > 0) {
    return `is an SR-IOV physical function with ${d.sriovNumVfs} virtual functions enabled (the kernel refuses it with EBUSY); write 0 to its sriov_numvfs or configure the virtual functions instead`;
  }
  if (!iommu.enabled && requireIommu) {
    return 'the IOMMU is off, so nothing is bound (require_iommu = true); run `pcie-passthroughctl check` for the fix';
  }
  if (want.driver === 'vfio-pci' && d.iommuGroup === null && iommu.enabled) {
    return 'has no IOMMU group: it is not behind a translating IOMMU, and vfio-pci would refuse it';
  }
  if (d.iommuGroup !== null && noIommuGroups.has(d.iommuGroup) && iommu.enabled) {
    return `has no IOMMU group of its own: vfio no-IOMMU mode put it in group ${d.iommuGroup} (vfio-noiommu), which isolates nothing`;
  }
  if (d.inUse.length > 0 && !want.allowInUse) {
    const why = d.inUse.map((u) => u.detail).join('; ');
    if (want.guest) {
      const name = d.vendorName && d.deviceName ? ` ${d.vendorName} ${d.deviceName}` : '';
      return `${want.guest} at ${want.origin} asks for it, but${name} is in use by the host (${why}): a guest never gets a host device through follow_guests; ` +
        'remove it from the guest, or add a [[device]] entry with allow_in_use = true only if you mean it';
    }
    return `in use by the host (${why}); set allow_in_use = true in its [[device]] entry (${want.origin}) only if you mean it`;
  }
  return null;
}

function hostVerdict(d: PciDevice, reason: string): Verdict {
  return {
    address: d.address, state: 'host', reason, managed: false, targetDriver: null,
    groupViable: null, groupBlockers: [], imported: false,
  };
}

/**
 * Decides, without touching anything, what a reconcile would do: one verdict per device and the actions
 * that move the machine toward the config. Level-triggered: applying the actions and planning again on the
 * new snapshot yields no actions.
 */
export function plan(input: PlanInput): Plan {
  const { config, snapshot, iommu, owned } = input;
  const stuck = input.stuck ?? {};
  const entries = [...config.devices, ...(input.imported ?? [])];
  const selection = selectDevices(entries, snapshot.devices, config.daemon.driver);

  const actions: Action[] = [];
  const verdicts: Verdict[] = [];
  /** Driver each device will have after the actions, for the group viability prediction. */
  const predicted = new Map<Address, string | null>();

  /** Fake groups vfio makes in no-IOMMU mode (drivers/vfio/group.c names them "vfio-noiommu"). */
  const noIommuGroups = new Set(snapshot.groups.filter((g) => g.name === 'vfio-noiommu').map((g) => g.id));
  /** Group → members a VM has open now: no member of such a group is given back to the host. */
  const openInGroup = new Map<number, Address[]>();
  for (const d of snapshot.devices) {
    if (d.openByVm && d.iommuGroup !== null) openInGroup.set(d.iommuGroup, [...(openInGroup.get(d.iommuGroup) ?? []), d.address]);
  }

  for (const d of snapshot.devices) {
    predicted.set(d.address, d.driver);
    const want = selection.wants.get(d.address);
    if (d.health.configAllOnes) {
      // Nothing is written to a device that does not answer (no retry loop): it stays `dead` until a
      // power cycle or a bus reset brings its config space back, which the next observation sees.
      verdicts.push({
        address: d.address, state: 'dead', reason: deadReason(d.address), managed: want !== undefined,
        targetDriver: want?.driver ?? null, groupViable: null, groupBlockers: [], imported: want?.imported ?? false,
      });
      continue;
    }
    if (!want) {
      const mine = owned.devices[d.address];
      const stillOurs = mine && (d.driver === mine.driver || d.driverOverride === mine.driver);
      const groupOpen = d.iommuGroup === null ? [] : (openInGroup.get(d.iommuGroup) ?? []).filter((a) => a !== d.address);
      if (stillOurs && config.daemon.onRemove === 'release' && d.openByVm) {
        // Unbinding vfio-pci under a running VM makes the kernel ask QEMU to give the device up.
        verdicts.push(hostVerdict(d, `dropped from config, but a VM has it open (enable = 1): it is released once the VM lets go`));
      } else if (stillOurs && config.daemon.onRemove === 'release' && groupOpen.length > 0) {
        // A host driver on one member of a group a VM uses would share the VM's DMA domain: since 5.19 the
        // kernel refuses that probe (iommu_device_use_default_domain: EBUSY), older kernels BUG().
        verdicts.push(hostVerdict(d, `dropped from config, but ${groupOpen.join(', ')} in the same IOMMU group ${d.iommuGroup} is open by a VM (enable = 1): held on ${mine.driver} until the VM lets go, then released`));
      } else if (stillOurs && config.daemon.onRemove === 'release') {
        actions.push({ kind: 'release', address: d.address, from: d.driver ?? mine.driver });
        predicted.set(d.address, mine.previousDriver);
        verdicts.push(hostVerdict(d, `dropped from config: returning it to the host driver (on_remove = "release")`));
      } else if (stillOurs) {
        verdicts.push(hostVerdict(d, `dropped from config: left on ${mine.driver} (on_remove = "keep")`));
      } else if (d.driverOverride !== null && d.driverOverride !== d.driver) {
        // Not ours to clear (another tool may have set it), but never silent: it locks the host driver out.
        verdicts.push(hostVerdict(d, `driver_override is set to ${d.driverOverride}, so no other driver can bind it (${d.driver ? `now on ${d.driver}` : 'now unbound'}); to give it back to its host driver: \`echo > /sys/bus/pci/devices/${d.address}/driver_override\` and \`echo ${d.address} > /sys/bus/pci/drivers_probe\``));
      } else {
        verdicts.push(hostVerdict(d, ''));
      }
      continue;
    }

    // The configured reset methods go in before the bind (and are kept), so no VM uses the device without them.
    const resetAction: Action[] = want.resetMethod !== null && d.health.resetMethods !== null && d.health.resetMethods.join(' ') !== want.resetMethod.join(' ')
      ? [{ kind: 'set-reset-method', address: d.address, methods: want.resetMethod }]
      : [];
    const base = {
      address: d.address, managed: true, targetDriver: want.driver, groupViable: null, groupBlockers: [], imported: want.imported,
    };
    if (d.driver === want.driver) {
      if (d.driverOverride !== want.driver) actions.push({ kind: 'set-override', address: d.address, driver: want.driver });
      actions.push(...resetAction);
      verdicts.push({ ...base, state: 'bound', reason: `on ${want.driver}` });
      continue;
    }
    const stuckReason = stuck[d.address];
    if (stuckReason) {
      verdicts.push({ ...base, state: 'failed', reason: stuckReason });
      continue;
    }
    const refused = refusal(d, want, iommu, config.daemon.requireIommu, noIommuGroups);
    if (refused) {
      verdicts.push({ ...base, state: 'blocked', reason: refused });
      continue;
    }
    actions.push(...resetAction, { kind: 'bind', address: d.address, driver: want.driver, from: d.driver });
    predicted.set(d.address, want.driver);
    verdicts.push({ ...base, state: 'pending', reason: `will bind to ${want.driver} (now ${d.driver ? `on ${d.driver}` : 'unbound'})` });
  }

  for (const m of selection.missing) {
    verdicts.push({
      address: m.address, state: 'missing', reason: `configured at ${m.origin}, but no device is present at this address`,
      managed: true, targetDriver: m.driver, groupViable: null, groupBlockers: [], imported: m.imported,
    });
  }

  const needed = new Set<string>();
  for (const a of actions) if (a.kind === 'bind' || a.kind === 'set-override') needed.add(a.driver);
  const loads: Action[] = [...needed].filter((drv) => !snapshot.drivers.includes(drv)).sort().map((driver) => ({ kind: 'load-driver', driver }));

  const viability = groupViability(snapshot, predicted, VFIO_SAFE_DRIVERS);
  for (const v of verdicts) {
    const g = viability.get(v.address);
    if (!g) continue;
    v.groupViable = g.blockers.length === 0;
    v.groupBlockers = g.blockers;
    if (v.managed && g.blockers.length > 0 && (v.state === 'bound' || v.state === 'pending')) {
      v.reason += `; IOMMU group ${g.group} is not viable for a VM while ${g.describe} (add them to the config, or use another slot)`;
    }
  }

  verdicts.sort((a, b) => compareAddresses(a.address, b.address));
  return { actions: [...loads, ...actions], verdicts, unmatched: selection.unmatched };
}
