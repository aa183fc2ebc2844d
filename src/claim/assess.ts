/**
 * Everything about early claims for one observation: the claims file text, each managed device's claim
 * status, and the checks (`initramfs-claims`, and `modprobe-ids` told with the claims in mind).
 * Reads a few small files; the decisions are the pure functions of generate/status/initramfs.
 */
import { entriesFromModprobe } from '../config/modprobe.js';
import { guestEntries, guestsUncertain } from '../guests/follow.js';
import { EMPTY_INVENTORY } from '../guests/types.js';
import { formatId, type Address, type Check, type Config, type DeviceEntry, type IommuFacts, type IommuReport, type OwnedState, type PciDevice, type Snapshot, type Verdict } from '../model.js';
import { matchesIdentity } from '../plan/select.js';
import { claimFor, generateClaims, renderClaims, type Claim } from './generate.js';
import { moduleOfDriver, readBuiltinDrivers, readClaimRecords, readInitramfsFacts, readModalias, readModulesAlias } from './files.js';
import { initramfsVerdict, modulesForAlias, type InitramfsVerdict } from './initramfs.js';
import { claimStatus, type ClaimStatus } from './status.js';

export interface ClaimAssessment {
  text: string;
  claims: Claim[];
  problems: string[];
  statuses: Map<Address, ClaimStatus>;
  initramfs: InitramfsVerdict;
  /** Checks to show next to the IOMMU ones (same names replace them). */
  checks: Check[];
  /**
   * Why the claims file must be kept as it is now (a followed guest source cannot be read: its guests are
   * unknown, not gone, and the claims written now would lack their devices); null when it may be written.
   */
  hold: string | null;
}

export interface ClaimInputs {
  config: Config;
  snapshot: Snapshot;
  verdicts: Verdict[];
  report: IommuReport;
  owned: OwnedState;
}

function importedEntries(config: Config, facts: IommuFacts): DeviceEntry[] {
  return config.daemon.importModprobe ? entriesFromModprobe(facts.modprobeIds).entries : [];
}

/** Host module each claimed device would be driven by: the driver it was taken from, else its modalias. */
async function hostModules(root: string, claims: Claim[], devices: PciDevice[], owned: OwnedState, release: string): Promise<Map<Address, string>> {
  const out = new Map<Address, string>();
  let aliases: string | null = null;
  for (const d of devices) {
    const c = claimFor(claims, d);
    if (!c) continue;
    const host = owned.devices[d.address]?.previousDriver ?? (d.driver && d.driver !== c.driver ? d.driver : null);
    let module = host ? await moduleOfDriver(root, host) : null;
    if (!module && !host) {
      aliases ??= await readModulesAlias(root, release);
      const modalias = await readModalias(root, d.address);
      module = modalias ? modulesForAlias(aliases, modalias).find((m) => m !== c.driver.replace(/-/g, '_')) ?? null : null;
    }
    if (module) out.set(d.address, module.replace(/-/g, '_'));
  }
  return out;
}

/**
 * `options vfio-pci ids=`: advise deleting them only when the early claims from config.toml alone cover the
 * same devices (imported entries do not count: deleting the lines would delete those claims too).
 */
export function modprobeIdsCheck(base: Check | undefined, facts: IommuFacts, configClaims: Claim[], devices: PciDevice[]): Check | null {
  if (!base || facts.modprobeIds.length === 0 || base.status !== 'pass') return null;
  const where = facts.modprobeIds.map((l) => `${l.file} line ${l.line} (ids=${l.ids.join(',')})`).join(', ');
  const uncovered: string[] = [];
  for (const e of entriesFromModprobe(facts.modprobeIds).entries) {
    const id = e.id ? formatId(e.id.vendor, e.id.device) : '?';
    const byId = configClaims.some((c) => c.kind === 'claim' && c.address === null && c.vendor === e.id?.vendor && c.device === e.id?.device);
    const present = devices.filter((d) => matchesIdentity(e, d));
    const allPresent = present.length > 0 && present.every((d) => claimFor(configClaims, d) !== null);
    if (!byId && !allPresent) uncovered.push(id);
  }
  const vga = 'A `disable_vga=1` there is a vfio-pci option, not a claim, and still applies to devices bound through driver_override: keep it as its own line `options vfio-pci disable_vga=1`.';
  if (uncovered.length > 0) {
    return {
      name: base.name, status: 'pass',
      message: `${where}: keep these lines: they claim ${[...new Set(uncovered)].join(', ')} when vfio-pci loads (from the initramfs too), and the early claims from /etc/pcie-passthroughd/config.toml do not cover them. To replace them, add those devices to config.toml; then the lines can go. ${vga}`,
    };
  }
  return {
    name: base.name, status: 'pass',
    message: `${where}: the early claims from config.toml cover the same devices, so these lines are no longer needed: delete them, then run \`update-initramfs -u -k all\` (that also puts the claims into the initramfs). ${vga}`,
  };
}

export async function assessClaims(root: string, input: ClaimInputs): Promise<ClaimAssessment> {
  const { config, snapshot, verdicts, report, owned } = input;
  const bindingAllowed = report.enabled || !config.daemon.requireIommu;
  const imported = importedEntries(config, snapshot.iommu);
  const guests = snapshot.guests ?? EMPTY_INVENTORY;
  const follow = config.daemon.followGuests ?? 'none';
  const followed = guestEntries(guests, follow, snapshot);
  const generated = generateClaims({ config, imported, followed, devices: snapshot.devices, verdicts, bindingAllowed });
  const text = renderClaims(generated.claims);
  const release = snapshot.iommu.kernelRelease;

  const facts = await readInitramfsFacts(root, release);
  const mayBeStale = facts.initrdExists && facts.recordedModules !== null && release !== null;
  const modules = mayBeStale ? await hostModules(root, generated.claims, snapshot.devices, owned, release) : new Map<Address, string>();
  const initramfs = initramfsVerdict(facts, text, modules);

  const byAddress = new Map(snapshot.devices.map((d) => [d.address, d]));
  const hostDrivers = new Set<string>();
  for (const v of verdicts) {
    const prev = owned.devices[v.address]?.previousDriver;
    if (prev) hostDrivers.add(prev);
    const now = byAddress.get(v.address)?.driver;
    if (v.managed && now && now !== v.targetDriver) hostDrivers.add(now);
  }
  const [records, builtinDrivers] = await Promise.all([readClaimRecords(root), readBuiltinDrivers(root, hostDrivers, release)]);
  const claimedAddresses = (a: Address): boolean => {
    const d = byAddress.get(a);
    return d ? claimFor(generated.claims, d) !== null : false;
  };
  const statuses = new Map<Address, ClaimStatus>();
  for (const v of verdicts) {
    statuses.set(v.address, claimStatus(v, byAddress.get(v.address), {
      records, owned, builtinDrivers, staleInitramfsModules: initramfs.staleModules, claimed: claimedAddresses,
    }));
  }

  const configOnly = generateClaims({ config, imported: [], devices: snapshot.devices, verdicts, bindingAllowed }).claims;
  const ids = modprobeIdsCheck(report.checks.find((c) => c.name === 'modprobe-ids'), snapshot.iommu, configOnly, snapshot.devices);
  const checks = [initramfs.check, ...(ids ? [ids] : [])];
  const unreadable = Object.entries(guests.sources).filter(([, st]) => st.state === 'unavailable').map(([name, st]) => `${name}: ${st.detail}`);
  const hold = guestsUncertain(guests, follow) ? `the guest configuration cannot be read now (${unreadable.join('; ')})` : null;
  return { text, claims: generated.claims, problems: generated.problems, statuses, initramfs, checks, hold };
}

/** The report's checks with the claim checks laid over them (same name replaces, new ones appended). */
export function withClaimChecks(checks: Check[], extra: Check[]): Check[] {
  const names = new Set(extra.map((c) => c.name));
  const replaced = checks.map((c) => (names.has(c.name) ? extra.find((x) => x.name === c.name) ?? c : c));
  return [...replaced, ...extra.filter((x) => !checks.some((c) => c.name === x.name))];
}
