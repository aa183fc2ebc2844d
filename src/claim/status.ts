/**
 * How each managed device was claimed this boot: `early` (never on a host driver) or `late` (a host
 * driver bound first, and why). Pure: decided from the verdict, the helper's record of the claim at add,
 * what the daemon itself bound (the owned record keeps the driver it took the device from), and facts.
 */
import type { Address, OwnedState, PciDevice, Verdict } from '../model.js';

/** What data/claim/pcie-passthroughd-claim wrote to /run/pcie-passthroughd/claimed/ADDRESS at add. */
export interface ClaimRecord {
  /** boot | udev | initramfs-boot | initramfs-udev */
  stage: string;
  /** Driver that already held the device when the claim ran (bound inside the kernel's device_add). */
  hostDriver: string | null;
  driver: string;
  /** /proc/uptime seconds when the claim ran. */
  uptime: number | null;
  origin: string;
}

export type ClaimKind = 'early' | 'late' | 'none';

export interface ClaimStatus {
  claim: ClaimKind;
  /** One sentence; empty for `none` on unmanaged devices. */
  reason: string;
}

export interface ClaimFacts {
  records: Map<Address, ClaimRecord>;
  owned: OwnedState;
  /** Host drivers that are built into the kernel (no `module` link under /sys/bus/pci/drivers/X). */
  builtinDrivers: Set<string>;
  /** Host modules a claimed device's driver would come from, that the current initramfs loads without its claim. */
  staleInitramfsModules: Set<string>;
  /** Addresses the current claims cover. */
  claimed: (address: Address) => boolean;
}

const NONE: ClaimStatus = { claim: 'none', reason: '' };

function lateWhy(address: Address, host: string, f: ClaimFacts): string {
  const record = f.records.get(address);
  if (f.builtinDrivers.has(host)) {
    return `${host} is built into the kernel and binds while the bus is enumerated, before any claim can run`;
  }
  if (f.staleInitramfsModules.has(host.replace(/-/g, '_'))) {
    return `${host} was loaded from an initramfs that has no claim for this device (run \`pcie-passthroughctl initramfs --update\`)`;
  }
  if (record?.hostDriver === host) {
    return `${host} was loaded already and took the device inside the kernel's device_add, before udev's rules ran (claim at ${record.stage})`;
  }
  if (!record) {
    return f.claimed(address)
      ? 'no early claim covered it when it appeared (configured after it appeared, or the claims were written later)'
      : 'it has no early claim';
  }
  return `${host} took it before the claim at ${record.stage} ran`;
}

export function claimStatus(v: Verdict, d: PciDevice | undefined, f: ClaimFacts): ClaimStatus {
  if (!v.managed || !v.targetDriver) return NONE;
  const target = v.targetDriver;
  const owned = f.owned.devices[v.address];
  const fromOwned = owned?.previousDriver && owned.previousDriver !== target ? owned.previousDriver : null;
  const onHostNow = d?.driver && d.driver !== target ? d.driver : null;
  const host = fromOwned ?? onHostNow;
  if (host) return { claim: 'late', reason: `${host} bound first: ${lateWhy(v.address, host, f)}` };
  if (v.state !== 'bound') return NONE;
  const record = f.records.get(v.address);
  if (record) return { claim: 'early', reason: `claimed at ${record.stage} (${record.origin}); never on a host driver` };
  if (owned) return { claim: 'early', reason: 'no host driver took it before the daemon bound it' };
  return { claim: 'early', reason: `on ${target} before the daemon started; never on a host driver` };
}

/** Parses one record file (key=value lines); null when it is not one. */
export function parseClaimRecord(text: string): ClaimRecord | null {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) kv.set(line.slice(0, at), line.slice(at + 1));
  }
  const stage = kv.get('stage');
  const driver = kv.get('driver');
  if (!stage || !driver) return null;
  const host = kv.get('host_driver');
  const up = Number(kv.get('uptime'));
  return {
    stage, driver, hostDriver: host && host !== '-' ? host : null, uptime: Number.isFinite(up) && kv.get('uptime') !== '' ? up : null,
    origin: kv.get('origin') ?? '',
  };
}
