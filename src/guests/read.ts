/**
 * The imperative shell: reads the guests' configuration under a root, read-only. /etc/pve is
 * pmxcfs (FUSE): at early boot it is an empty directory until pve-cluster mounts it, and a wedged
 * pmxcfs can stall reads, so every read here is bounded and an unreadable source is reported as
 * `unavailable`, never waited for.
 */
import { readdir, readFile } from 'node:fs/promises';
import { under } from '../paths.js';
import { parseLibvirtDomain } from './libvirt.js';
import { nodeNameFrom, parsePciMappings, type PciMappings } from './pve-mapping.js';
import { parsePveVmConfig } from './pve-vm.js';
import { resolveLibvirtGuests, resolvePveGuests, type LibvirtInput, type PveInput } from './resolve.js';
import type { Guest, GuestInventory, GuestProblem, SourceState } from './types.js';

export const PVE_DIR = '/etc/pve';
export const PVE_VM_DIR = '/etc/pve/qemu-server';
export const PVE_MAPPING_FILE = '/etc/pve/mapping/pci.cfg';
export const LIBVIRT_DIR = '/etc/libvirt/qemu';
export const LIBVIRT_AUTOSTART_DIR = '/etc/libvirt/qemu/autostart';
export const HOSTNAME_FILE = '/etc/hostname';

/** A stalled pmxcfs must not hold a reconcile: past this the source counts as unavailable. */
export const GUEST_READ_TIMEOUT_MS = 3000;

interface SourceResult {
  state: SourceState;
  detail: string;
  guests: Guest[];
  problems: GuestProblem[];
}

async function entries(path: string): Promise<string[] | null> {
  try {
    return (await readdir(path)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

async function textOrNull(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

async function readPve(root: string): Promise<SourceResult> {
  const top = await entries(under(root, PVE_DIR));
  if (top === null) return { state: 'absent', detail: `${PVE_DIR} does not exist`, guests: [], problems: [] };
  if (top.length === 0) {
    return { state: 'unavailable', detail: `${PVE_DIR} is empty: pmxcfs is not mounted (yet)`, guests: [], problems: [] };
  }
  const names = (await entries(under(root, PVE_VM_DIR))) ?? [];
  const vms: PveInput[] = [];
  for (const name of names) {
    const m = /^(\d+)\.conf$/.exec(name);
    if (!m) continue;
    const file = `${PVE_VM_DIR}/${name}`;
    const text = await textOrNull(under(root, file));
    if (text !== null) vms.push({ file, config: parsePveVmConfig(text, file, m[1] ?? '') });
  }
  const wantsMapping = vms.some((v) => v.config.hostpci.some((h) => h.mapping !== null));
  let mappings: PciMappings | null = null;
  if (wantsMapping) {
    const text = await textOrNull(under(root, PVE_MAPPING_FILE));
    mappings = text === null ? { mappings: new Map(), problems: [] } : parsePciMappings(text, PVE_MAPPING_FILE);
  }
  const node = nodeNameFrom(await textOrNull(under(root, HOSTNAME_FILE)).catch(() => null));
  const { guests, problems } = resolvePveGuests(vms, mappings, PVE_MAPPING_FILE, node);
  return { state: 'ok', detail: `${vms.length} VM config(s)`, guests, problems: [...(mappings?.problems ?? []), ...problems] };
}

async function readLibvirt(root: string): Promise<SourceResult> {
  const names = await entries(under(root, LIBVIRT_DIR));
  if (names === null) return { state: 'absent', detail: `${LIBVIRT_DIR} does not exist`, guests: [], problems: [] };
  const autostart = new Set((await entries(under(root, LIBVIRT_AUTOSTART_DIR))) ?? []);
  const domains: LibvirtInput[] = [];
  for (const name of names) {
    if (!name.endsWith('.xml')) continue;
    const file = `${LIBVIRT_DIR}/${name}`;
    let text: string | null;
    try {
      text = await textOrNull(under(root, file));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EISDIR') continue;
      throw e;
    }
    if (text === null) continue;
    domains.push({ file, domain: parseLibvirtDomain(text, file), autostart: autostart.has(name) });
  }
  const { guests, problems } = resolveLibvirtGuests(domains);
  return { state: 'ok', detail: `${domains.length} domain file(s)`, guests, problems };
}

function bounded(what: string, read: Promise<SourceResult>, timeoutMs: number): Promise<SourceResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<SourceResult>((resolve) => {
    timer = setTimeout(() => resolve({ state: 'unavailable', detail: `reading ${what} took longer than ${timeoutMs} ms`, guests: [], problems: [] }), timeoutMs);
    timer.unref();
  });
  const safe = read.catch((e: unknown) => ({
    state: 'unavailable' as const, detail: `cannot read ${what}: ${(e as Error).message}`, guests: [], problems: [],
  }));
  return Promise.race([safe, timeout]).finally(() => clearTimeout(timer));
}

/** Every guest of both sources; never throws, never blocks longer than the timeout. */
export async function readGuests(root: string, timeoutMs = GUEST_READ_TIMEOUT_MS): Promise<GuestInventory> {
  const [pve, libvirt] = await Promise.all([
    bounded(PVE_DIR, readPve(root), timeoutMs),
    bounded(LIBVIRT_DIR, readLibvirt(root), timeoutMs),
  ]);
  return {
    guests: [...pve.guests, ...libvirt.guests],
    problems: [...pve.problems, ...libvirt.problems],
    sources: { pve: { state: pve.state, detail: pve.detail }, libvirt: { state: libvirt.state, detail: libvirt.detail } },
  };
}
