/**
 * Pure: the parsed files → guests with canonical host addresses. Proxmox `mapping=` names resolve
 * through this node's entries of /etc/pve/mapping/pci.cfg (other nodes' entries are not this host's).
 */
import { parseIdPair } from './ids.js';
import type { LibvirtDomain } from './libvirt.js';
import { parsePveRef } from './pci-ref.js';
import type { PciMappings } from './pve-mapping.js';
import type { PveVmConfig } from './pve-vm.js';
import type { ExpectedIdentity, Guest, GuestDevice, GuestProblem } from './types.js';

export interface PveInput {
  file: string;
  config: PveVmConfig;
}

export interface LibvirtInput {
  file: string;
  domain: LibvirtDomain;
  autostart: boolean;
}

export function resolvePveGuests(
  vms: PveInput[],
  mappings: PciMappings | null,
  mappingFile: string,
  node: string | null,
): { guests: Guest[]; problems: GuestProblem[] } {
  const guests: Guest[] = [];
  const problems: GuestProblem[] = [];
  for (const { file, config } of vms) {
    problems.push(...config.problems);
    if (config.template) continue;
    const devices: GuestDevice[] = [];
    for (const h of config.hostpci) {
      const origin = { file, line: h.line, via: h.mapping ? `${h.key} (mapping ${h.mapping})` : h.key };
      if (h.mapping) {
        const mapping = mappings?.mappings.get(h.mapping);
        if (!mapping) {
          problems.push({ file, line: h.line, message: `${h.key} uses mapping "${h.mapping}", which ${mappingFile} does not define` });
          continue;
        }
        const mine = node === null ? [] : mapping.entries.filter((e) => e.node === node);
        if (mine.length === 0) {
          problems.push({
            file, line: h.line,
            message: `${h.key} uses mapping "${h.mapping}", which has no entry for this node${node ? ` (${node})` : ' (its name is not known: /etc/hostname is empty)'} in ${mappingFile}`,
          });
          continue;
        }
        for (const entry of mine) {
          const refs = entry.paths.map(parsePveRef);
          const good = refs.filter((r) => r !== null);
          if (good.length !== refs.length || good.length === 0) {
            problems.push({ file: mappingFile, line: entry.line, message: `path of mapping "${h.mapping}" is not [domain:]bus:slot[.function]: ${entry.paths.join(';')}` });
            continue;
          }
          const id = parseIdPair(entry.id);
          const sub = parseIdPair(entry.subsystemId);
          const expected: ExpectedIdentity = {
            mapping: h.mapping,
            vendorId: id?.[0] ?? null, deviceId: id?.[1] ?? null,
            subsystemVendorId: sub?.[0] ?? null, subsystemDeviceId: sub?.[1] ?? null,
            iommuGroup: entry.iommuGroup,
          };
          devices.push({
            candidates: good.map((r) => r.address),
            allFunctions: good[0]?.allFunctions ?? false,
            managedByHypervisor: true,
            expected,
            origin,
          });
        }
        continue;
      }
      // Several ids joined with ";" are all given to the guest (e.g. virtual functions).
      for (const host of h.hosts) {
        const ref = parsePveRef(host);
        if (!ref) {
          problems.push({ file, line: h.line, message: `${h.key}: "${host}" is not a PCI address ([domain:]bus:slot[.function])` });
          continue;
        }
        devices.push({ candidates: [ref.address], allFunctions: ref.allFunctions, managedByHypervisor: true, expected: null, origin });
      }
    }
    guests.push({ source: 'pve', id: config.vmid, name: config.name, onboot: config.onboot, file, devices });
  }
  return { guests, problems };
}

export function resolveLibvirtGuests(domains: LibvirtInput[]): { guests: Guest[]; problems: GuestProblem[] } {
  const guests: Guest[] = [];
  const problems: GuestProblem[] = [];
  for (const { file, domain, autostart } of domains) {
    problems.push(...domain.problems);
    if (!domain.name) continue;
    guests.push({
      source: 'libvirt',
      id: domain.uuid || domain.name,
      name: domain.name,
      onboot: autostart,
      file,
      devices: domain.hostdevs.map((h) => ({
        candidates: [h.address], allFunctions: false, managedByHypervisor: h.managed, expected: null,
        origin: { file, line: h.line, via: h.via },
      })),
    });
  }
  return { guests, problems };
}
