/**
 * Reads the host's persistent network configuration (ifupdown, systemd-networkd, NetworkManager) and
 * says which present PCI network devices it uses. At boot the unit starts before networking, so the
 * management NIC is not up yet: this is what keeps an `id =` entry from taking it. All I/O of
 * src/sysfs/netconfig lives here; the parsers are pure.
 */
import { readlinkSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { Address, InUse } from '../../model.js';
import { under } from '../../paths.js';
import { list, readText, realpath } from '../tolerant.js';
import { globMatch } from './glob.js';
import { parseInterfaces } from './ifupdown.js';
import { linkName, parseLinkFile, parseNetworkFile, selectorMatches, type NetworkFile } from './networkd.js';
import { parseNmConnection } from './networkmanager.js';
import type { LinkRename, NetConfigUse, NetDevice } from './types.js';

/** Enough for any real /etc/network/interfaces tree; stops a `source` loop. */
const MAX_INTERFACES_FILES = 256;
const NETWORKD_DIRS = ['/etc/systemd/network', '/run/systemd/network'];
/** udev reads .link files from these (systemd.link(5)), earlier directories overriding later ones. */
const LINK_DIRS = ['/etc/systemd/network', '/run/systemd/network', '/usr/local/lib/systemd/network', '/usr/lib/systemd/network', '/lib/systemd/network'];
const NM_DIRS = ['/etc/NetworkManager/system-connections', '/run/NetworkManager/system-connections'];

/** Present interfaces that live on a PCI device (virtual ones cannot be passed through). */
export function readNetDevices(root: string, owningPciAddress: (path: string) => Address | null): NetDevice[] {
  const classNet = under(root, '/sys/class/net');
  const devices: NetDevice[] = [];
  for (const name of list(classNet)) {
    const dir = realpath(join(classNet, name));
    const address = dir && owningPciAddress(dir);
    if (!dir || !address) continue;
    let driver: string | null = null;
    try {
      driver = basename(readlinkSync(join(dir, 'device/driver')));
    } catch {
      // no driver link: the fake tree, or a device being unbound
    }
    const mac = readText(join(dir, 'address'))?.trim().toLowerCase() || null;
    devices.push({ name, address, mac, driver });
  }
  return devices;
}

/** Expands one `source` pattern (glob in the last component, as interfaces(5) files use it). */
function expandInclude(root: string, fromFile: string, pattern: string, directory: boolean): string[] {
  const path = isAbsolute(pattern) ? pattern : join(dirname(fromFile), pattern);
  if (directory) return list(under(root, path)).filter((f) => /^[A-Za-z0-9_-]+$/.test(f)).sort().map((f) => join(path, f));
  const base = basename(path);
  if (!/[*?[]/.test(base)) return [path];
  return list(under(root, dirname(path))).filter((f) => !f.startsWith('.') && globMatch(base, f)).sort().map((f) => join(dirname(path), f));
}

function ifupdownUses(root: string): NetConfigUse[] {
  const uses: NetConfigUse[] = [];
  const queue = ['/etc/network/interfaces'];
  const seen = new Set<string>();
  while (queue.length > 0 && seen.size < MAX_INTERFACES_FILES) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readText(under(root, file));
    if (text === null) continue;
    const parsed = parseInterfaces(text, file);
    uses.push(...parsed.uses);
    for (const inc of parsed.includes) queue.push(...expandInclude(root, file, inc.pattern, inc.directory));
  }
  return uses;
}

/** Files of `dirs` with `suffix`, one per basename (the earlier directory wins), in lexical order of basename. */
function systemdFiles(root: string, dirs: string[], suffix: string): { file: string; text: string }[] {
  const chosen = new Map<string, string>();
  for (const dir of dirs) {
    for (const f of list(under(root, dir))) {
      if (f.endsWith(suffix) && !chosen.has(f)) chosen.set(f, join(dir, f));
    }
  }
  return [...chosen.keys()].sort().flatMap((f) => {
    const file = chosen.get(f)!;
    const text = readText(under(root, file));
    return text === null ? [] : [{ file, text }];
  });
}

function nmUses(root: string): NetConfigUse[] {
  const uses: NetConfigUse[] = [];
  for (const dir of NM_DIRS) {
    for (const f of list(under(root, dir)).sort()) {
      if (!f.endsWith('.nmconnection')) continue;
      const text = readText(under(root, join(dir, f)));
      const use = text === null ? null : parseNmConnection(text, join(dir, f));
      if (use) uses.push(use);
    }
  }
  return uses;
}

function describe(device: NetDevice, renamed: { name: string; file: string } | null, use: NetConfigUse): string {
  const who = renamed ? `${device.name} (named ${renamed.name} by ${renamed.file})` : device.name;
  return `${who} ${use.why} in ${use.file}:${use.line} (${use.tool})`;
}

/** netconfig facts per PCI address: at most one per device and tool, the first the files give. */
export function readNetConfigUse(root: string, devices: NetDevice[]): Map<Address, InUse[]> {
  const facts = new Map<Address, InUse[]>();
  if (devices.length === 0) return facts;
  const links = systemdFiles(root, LINK_DIRS, '.link').map((f) => parseLinkFile(f.text, f.file)).filter((l): l is LinkRename => l !== null);
  const networkFiles = systemdFiles(root, NETWORKD_DIRS, '.network').map((f) => parseNetworkFile(f.text, f.file)).filter((n): n is NetworkFile => n !== null);
  const ifupdown = ifupdownUses(root);
  const nm = nmUses(root);
  for (const device of devices) {
    const newName = linkName(links, device);
    const renameFile = newName && newName !== device.name ? links.find((l) => l.name === newName)?.file ?? null : null;
    const renamed = newName && renameFile ? { name: newName, file: renameFile } : null;
    const names = renamed ? [device.name, renamed.name] : [device.name];
    const matches = (use: NetConfigUse) => names.some((n) => selectorMatches(use.selector, device, n));
    const found: NetConfigUse[] = [];
    const ifup = ifupdown.find(matches);
    if (ifup) found.push(ifup);
    // networkd applies the first .network file that matches; Unmanaged=yes there means hands off.
    const network = networkFiles.find((n) => matches(n.use));
    if (network && !network.unmanaged) found.push(network.use);
    const profile = nm.find(matches);
    if (profile) found.push(profile);
    if (found.length > 0) facts.set(device.address, [...(facts.get(device.address) ?? []), ...found.map((use) => ({ kind: 'netconfig' as const, detail: describe(device, renamed, use) }))]);
  }
  return facts;
}
