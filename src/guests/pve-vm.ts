/**
 * Proxmox VE guest config (/etc/pve/qemu-server/<vmid>.conf), pure over the file text.
 * "key: value" lines; "#" lines are the description. The current config ends at the first
 * "[section]" line: what follows is a snapshot ("[before-update]"), pending changes ("[PENDING]")
 * or cloud-init state ("[special:cloudinit]"), none of which is what the guest starts with.
 */
import type { GuestProblem } from './types.js';

export interface HostPciLine {
  /** "hostpci0" … "hostpci15". */
  key: string;
  line: number;
  /** Raw host ids of the `host` part, split on ";" ("0000:01:00", "02:00.0"); empty with a mapping. */
  hosts: string[];
  /** `mapping=<name>`: a cluster resource mapping (/etc/pve/mapping/pci.cfg). */
  mapping: string | null;
  /** The other options as written (pcie=1, x-vga=1, rombar=0, …). */
  options: Record<string, string>;
}

export interface PveVmConfig {
  vmid: string;
  name: string;
  onboot: boolean;
  /** Templates are never started. */
  template: boolean;
  hostpci: HostPciLine[];
  problems: GuestProblem[];
}

const HOSTPCI_KEY = /^hostpci([0-9]|1[0-5])$/;

/** Proxmox property strings: comma-separated, the default key (`host`) may be written without "host=". */
function splitPropertyString(value: string): { positional: string[]; named: Record<string, string> } {
  const positional: string[] = [];
  const named: Record<string, string> = {};
  for (const part of value.split(',')) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.indexOf('=');
    if (eq < 0) positional.push(item);
    else named[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return { positional, named };
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|yes|on|true)$/i.test(value.trim());
}

export function parsePveVmConfig(text: string, file: string, vmid: string): PveVmConfig {
  const config: PveVmConfig = { vmid, name: '', onboot: false, template: false, hostpci: [], problems: [] };
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.replace(/\r$/, '');
    const trimmed = line.trim();
    if (trimmed.startsWith('[')) break;
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon < 0) {
      config.problems.push({ file, line: i + 1, message: `not a "key: value" line: ${JSON.stringify(trimmed)}` });
      continue;
    }
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === 'name') config.name = value;
    else if (key === 'onboot') config.onboot = truthy(value);
    else if (key === 'template') config.template = truthy(value);
    else if (HOSTPCI_KEY.test(key)) {
      const { positional, named } = splitPropertyString(value);
      const host = named.host ?? positional[0] ?? '';
      const { host: _host, mapping, ...options } = named;
      const hosts = host ? host.split(';').map((h) => h.trim()).filter(Boolean) : [];
      if (hosts.length === 0 && !mapping) {
        config.problems.push({ file, line: i + 1, message: `${key} names no host device (neither an address nor mapping=)` });
        continue;
      }
      config.hostpci.push({ key, line: i + 1, hosts, mapping: mapping ?? null, options });
    }
  }
  return config;
}
