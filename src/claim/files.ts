/** The early claims' files: what the daemon writes, what the helper and the initramfs hook leave behind. */
import { mkdir, readFile, readdir, readlink, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Address } from '../model.js';
import { SYS_PCI_DEVICES, SYS_PCI_DRIVERS, under } from '../paths.js';
import type { InitramfsFacts } from './initramfs.js';
import { parseClaimRecord, type ClaimRecord } from './status.js';

/** On the root file system (not /run, not /var): read before udev's coldplug and copied into the initramfs. */
export const EARLY_CLAIMS_FILE = '/etc/pcie-passthroughd/early/claims';
/** One record per device the helper claimed this boot (/run survives the switch from the initramfs). */
export const CLAIM_RECORDS_DIR = '/run/pcie-passthroughd/claimed';
/** Written by the initramfs-tools hook: KVER.claims (what the image carries) and KVER.modules. */
export const INITRAMFS_RECORD_DIR = '/var/lib/pcie-passthroughd/initramfs';

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

export async function readClaimsFile(root: string): Promise<string> {
  return (await readText(under(root, EARLY_CLAIMS_FILE))) ?? '';
}

/** Writes the claims when their text changed (atomic rename); true when written. */
export async function writeClaimsFile(root: string, text: string): Promise<boolean> {
  const path = under(root, EARLY_CLAIMS_FILE);
  if ((await readText(path)) === text) return false;
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, path);
  return true;
}

export async function readClaimRecords(root: string): Promise<Map<Address, ClaimRecord>> {
  const dir = under(root, CLAIM_RECORDS_DIR);
  const out = new Map<Address, ClaimRecord>();
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.map(async (name) => {
    const text = await readText(join(dir, name));
    const record = text === null ? null : parseClaimRecord(text);
    if (record) out.set(name, record);
  }));
  return out;
}

/**
 * Built-in drivers: the driver's module (its `module` link, else its name) is listed in
 * /lib/modules/KVER/modules.builtin, or it has no `module` link and is not a loaded module (pcieport).
 */
export async function readBuiltinDrivers(root: string, drivers: Iterable<string>, kernelRelease: string | null): Promise<Set<string>> {
  const out = new Set<string>();
  const names = [...new Set(drivers)];
  if (names.length === 0) return out;
  const builtinList = kernelRelease ? (await readText(under(root, `/lib/modules/${kernelRelease}/modules.builtin`))) ?? '' : '';
  const builtin = new Set(builtinList.split('\n').map((l) => basename(l.trim()).replace(/\.ko.*$/, '').replace(/-/g, '_')).filter(Boolean));
  const loaded = new Set(((await readText(under(root, '/proc/modules'))) ?? '').split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean));
  await Promise.all(names.map(async (drv) => {
    const link = await readlink(under(root, `${SYS_PCI_DRIVERS}/${drv}/module`)).catch(() => null);
    const module = (link ? basename(link) : drv).replace(/-/g, '_');
    if (builtin.has(module) || (!link && !loaded.has(module))) out.add(drv);
  }));
  return out;
}

/** Module behind a registered driver (`bochs-drm` → `bochs`), null when built in or unknown. */
export async function moduleOfDriver(root: string, driver: string): Promise<string | null> {
  const link = await readlink(under(root, `${SYS_PCI_DRIVERS}/${driver}/module`)).catch(() => null);
  return link ? basename(link) : null;
}

export async function readModalias(root: string, address: Address): Promise<string | null> {
  return (await readText(under(root, `${SYS_PCI_DEVICES}/${address}/modalias`)))?.trim() ?? null;
}

export async function readModulesAlias(root: string, kernelRelease: string): Promise<string> {
  return (await readText(under(root, `/lib/modules/${kernelRelease}/modules.alias`))) ?? '';
}

export async function readInitramfsFacts(root: string, kernelRelease: string | null): Promise<InitramfsFacts> {
  if (!kernelRelease) return { kernelRelease, initrdExists: false, recordedClaims: null, recordedModules: null };
  const initrdExists = await stat(under(root, `/boot/initrd.img-${kernelRelease}`)).then(() => true, () => false);
  const claims = await readText(under(root, `${INITRAMFS_RECORD_DIR}/${kernelRelease}.claims`));
  const modules = await readText(under(root, `${INITRAMFS_RECORD_DIR}/${kernelRelease}.modules`));
  return {
    kernelRelease, initrdExists, recordedClaims: claims,
    recordedModules: modules === null ? null : modules.split('\n').map((m) => m.trim()).filter(Boolean),
  };
}
