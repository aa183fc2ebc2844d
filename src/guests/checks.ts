/**
 * Pure cross-check of what the guests want against the host, before they start: a device that
 * is missing, changed (a mapping's id=/subsystem-id=/iommugroup=), used by the host or in a group
 * the host uses, in a group that is not viable, left on a host driver nobody configured, or wanted
 * by two guests that both start at boot. One Check per guest device (pass when nothing is wrong).
 */
import { formatId, isBridge, type Address, type Check, type CheckStatus, type PciDevice, type Snapshot, type Verdict } from '../model.js';
import { addressesOf, chosenAddress } from './usage.js';
import { guestLabel, guestLabelWithStart, type Guest, type GuestDevice, type GuestInventory } from './types.js';

/** Drivers that leave a group usable by VFIO (drivers/vfio/group.c). */
const VFIO_SAFE = new Set(['vfio-pci', 'pci-stub']);

interface Finding {
  status: CheckStatus;
  message: string;
}

function whereOf(device: GuestDevice): string {
  return `${device.origin.via}, ${device.origin.file}:${device.origin.line}`;
}

function describeDevice(d: PciDevice): string {
  const name = d.vendorName && d.deviceName ? `${d.vendorName} ${d.deviceName}` : formatId(d.vendorId, d.deviceId);
  return `${d.address} (${name})`;
}

function identityFindings(device: GuestDevice, d: PciDevice, guest: Guest): Finding[] {
  const e = device.expected;
  if (!e) return [];
  const out: Finding[] = [];
  const idDiffers = (e.vendorId !== null && e.vendorId !== d.vendorId) || (e.deviceId !== null && e.deviceId !== d.deviceId);
  const subDiffers = (e.subsystemVendorId !== null && e.subsystemVendorId !== d.subsystemVendorId) ||
    (e.subsystemDeviceId !== null && e.subsystemDeviceId !== d.subsystemDeviceId);
  if (idDiffers || subDiffers) {
    const want = [
      e.vendorId !== null && e.deviceId !== null ? `id ${formatId(e.vendorId, e.deviceId)}` : '',
      e.subsystemVendorId !== null && e.subsystemDeviceId !== null ? `subsystem-id ${formatId(e.subsystemVendorId, e.subsystemDeviceId)}` : '',
    ].filter(Boolean).join(', ');
    out.push({
      status: 'fail',
      message: `hardware changed: mapping "${e.mapping}" expects ${want} at ${d.address}, but ${formatId(d.vendorId, d.deviceId)} ` +
        `(subsystem ${formatId(d.subsystemVendorId, d.subsystemDeviceId)}) sits there; Proxmox refuses to start ${guestLabel(guest)} — ` +
        'update the mapping (Datacenter → Resource Mappings) if the card was replaced on purpose',
    });
  }
  if (e.iommuGroup !== null && d.iommuGroup !== null && e.iommuGroup !== d.iommuGroup) {
    out.push({
      status: 'fail',
      message: `hardware changed: mapping "${e.mapping}" expects IOMMU group ${e.iommuGroup} for ${d.address}, but it is in group ${d.iommuGroup} ` +
        '(a BIOS update, another slot or ACS settings); update the mapping',
    });
  }
  return out;
}

function deviceFindings(
  guest: Guest, device: GuestDevice, address: Address, snapshot: Snapshot,
  byAddress: Map<Address, PciDevice>, verdicts: Map<Address, Verdict>, guestAddresses: Set<Address>,
): Finding[] {
  const d = byAddress.get(address);
  if (!d) return [];
  const out: Finding[] = [];
  const v = verdicts.get(address);
  if (d.inUse.length > 0) {
    out.push({ status: 'fail', message: `${describeDevice(d)} is used by the host (${d.inUse.map((u) => u.detail).join('; ')}): the guest must not get it` });
  } else if (v?.managed && v.state === 'blocked') {
    out.push({ status: 'fail', message: `${d.address} is blocked: ${v.reason}` });
  } else if (v?.managed && v.state === 'failed') {
    out.push({ status: 'fail', message: `${d.address} failed: ${v.reason}` });
  }
  if (isBridge(d)) out.push({ status: 'fail', message: `${d.address} is a bridge: only endpoints can be passed through` });

  const group = d.iommuGroup === null ? null : snapshot.groups.find((g) => g.id === d.iommuGroup);
  if (group) {
    const mates = group.devices.filter((a) => a !== address && !guestAddresses.has(a)).map((a) => byAddress.get(a)).filter((x) => x !== undefined);
    const hostUsed = mates.filter((m) => m.inUse.length > 0);
    if (hostUsed.length > 0) {
      out.push({
        status: 'fail',
        message: `IOMMU group ${group.id} also holds ${hostUsed.map((m) => `${describeDevice(m)}, used by the host (${m.inUse.map((u) => u.detail).join('; ')})`).join(', ')}: ` +
          'a VM only gets a whole group, so this device cannot be given to it here; use another slot or an ACS-capable port',
      });
    } else {
      const stays = mates.filter((m) => {
        if (isBridge(m)) return false;
        const mv = verdicts.get(m.address);
        const predicted = mv?.managed && (mv.state === 'bound' || mv.state === 'pending') ? mv.targetDriver : m.driver;
        return predicted !== null && !VFIO_SAFE.has(predicted);
      });
      if (stays.length > 0) {
        out.push({
          status: 'fail',
          message: `IOMMU group ${group.id} is not viable: ${stays.map((m) => `${m.address} stays on ${m.driver ?? '?'}`).join(', ')}; ` +
            'QEMU cannot open the group — add those devices to the config or to the guest',
        });
      }
    }
  }

  const onHostDriver = d.driver !== null && !VFIO_SAFE.has(d.driver);
  const takenByUs = v?.managed === true && (v.state === 'bound' || v.state === 'pending');
  if (onHostDriver && !takenByUs && out.length === 0) {
    if (device.managedByHypervisor) {
      out.push({
        status: 'warn',
        message: `${d.address} is on ${d.driver} and not in the config: ${guest.source === 'pve' ? 'Proxmox' : 'libvirt'} unbinds it only when the guest starts ` +
          '(late; a GPU may not reset); add a [[device]] entry or set follow_guests in [daemon]',
      });
    } else {
      out.push({
        status: 'fail',
        message: `${d.address} is on ${d.driver}, libvirt leaves it there (managed='no') and QEMU cannot open it; add a [[device]] entry or set follow_guests in [daemon]`,
      });
    }
  }
  return out;
}

function worst(findings: Finding[]): CheckStatus {
  return findings.some((f) => f.status === 'fail') ? 'fail' : findings.some((f) => f.status === 'warn') ? 'warn' : 'pass';
}

export function guestChecks(inventory: GuestInventory, snapshot: Snapshot, verdictList: Verdict[]): Check[] {
  const checks: Check[] = [];
  const byAddress = new Map(snapshot.devices.map((d) => [d.address, d]));
  const present = new Set(byAddress.keys());
  const verdicts = new Map(verdictList.map((v) => [v.address, v]));

  for (const [source, s] of Object.entries(inventory.sources)) {
    if (s.state === 'unavailable') {
      checks.push({ name: `guests ${source}`, status: 'warn', message: `${s.detail}; its guests' devices are not known now (nothing is released meanwhile)` });
    }
  }
  for (const p of inventory.problems) {
    checks.push({ name: `guest-config ${p.file}:${p.line}`, status: 'warn', message: `${p.file}:${p.line}: ${p.message}` });
  }

  const onboot = new Map<Address, Guest[]>();
  for (const guest of inventory.guests) {
    const guestAddresses = new Set(guest.devices.flatMap((dev) => addressesOf(dev, snapshot)));
    for (const device of guest.devices) {
      const chosen = chosenAddress(device, present);
      const label = guestLabelWithStart(guest);
      const name = `guest ${guest.source}/${guest.id} ${chosen.address}`;
      if (!chosen.present) {
        const where = device.candidates.length > 1 ? `any of ${device.candidates.join(', ')}` : chosen.address;
        checks.push({ name, status: 'fail', message: `${label} wants ${where} (${whereOf(device)}), but no device is present there` });
        continue;
      }
      const findings: Finding[] = [];
      const d = byAddress.get(chosen.address);
      if (d) findings.push(...identityFindings(device, d, guest));
      for (const address of addressesOf(device, snapshot)) {
        findings.push(...deviceFindings(guest, device, address, snapshot, byAddress, verdicts, guestAddresses));
        if (guest.onboot) {
          const list = onboot.get(address) ?? [];
          if (!list.includes(guest)) list.push(guest);
          onboot.set(address, list);
        }
      }
      const status = worst(findings);
      const v = verdicts.get(chosen.address);
      const now = v?.managed && v.state === 'pending' ? `being bound to ${v.targetDriver ?? '?'}` : d?.driver ? `on ${d.driver}` : 'on no driver';
      const detail = status === 'pass' ? `ready (${now})` : findings.map((f) => f.message).join('; ');
      checks.push({ name, status, message: `${label} wants ${chosen.address} (${whereOf(device)}): ${detail}` });
    }
  }

  for (const [address, guests] of onboot) {
    if (guests.length < 2) continue;
    const names = guests.map(guestLabel);
    checks.push({
      name: `guests ${address}`,
      status: 'fail',
      message: `${names.slice(0, -1).join(', ')} and ${names[names.length - 1] ?? ''} ${names.length === 2 ? 'both' : 'all'} start at boot and want ${address}: only the first to start gets it, the others fail; ` +
        'turn onboot/autostart off for all but one',
    });
  }
  return checks;
}
