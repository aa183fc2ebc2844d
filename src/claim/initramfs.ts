/**
 * Is the initramfs of the running kernel older than the early claims it needs? Pure over what the
 * initramfs-tools hook recorded when it built the image (/var/lib/pcie-passthroughd/initramfs/KVER.claims
 * and .modules): the claims it carries and the modules in it. Needed = a claimed device's host module is
 * in the initramfs (it would bind there, before the root file system's udev rule ever runs).
 */
import type { Address, Check } from '../model.js';

export interface InitramfsFacts {
  kernelRelease: string | null;
  /** /boot/initrd.img-KVER exists. */
  initrdExists: boolean;
  /** The claims the hook embedded (null: no record, the image predates the hook). */
  recordedClaims: string | null;
  /** Modules in the image when the hook ran (basename, `-` as `_`); null without a record. */
  recordedModules: string[] | null;
}

export interface InitramfsVerdict {
  state: 'current' | 'stale' | 'not-needed' | 'none' | 'unknown';
  /** Host modules that the image loads although it lacks the claim for their device. */
  staleModules: Set<string>;
  check: Check;
}

/** The exact command, for check, the journal and D-Bus. */
export function refreshCommand(kernelRelease: string | null): string {
  return kernelRelease ? `update-initramfs -u -k ${kernelRelease}` : 'update-initramfs -u';
}

/** Only the claim/skip lines count (comments and order of writing do not). */
export function claimLines(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('claim ') || l.startsWith('skip '));
}

export function initramfsVerdict(f: InitramfsFacts, currentClaims: string, hostModules: Map<Address, string>): InitramfsVerdict {
  const name = 'initramfs-claims';
  const kver = f.kernelRelease ?? 'this kernel';
  const cmd = `pcie-passthroughctl initramfs --update (runs ${refreshCommand(f.kernelRelease)})`;
  const want = claimLines(currentClaims);
  const none = new Set<string>();
  if (!f.initrdExists) {
    return { state: 'none', staleModules: none, check: { name, status: 'pass', message: `No initramfs for ${kver} (/boot/initrd.img-${kver}): host drivers load from the root file system, after the early claims` } };
  }
  if (f.recordedClaims !== null && claimLines(f.recordedClaims).join('\n') === want.join('\n')) {
    return { state: 'current', staleModules: none, check: { name, status: 'pass', message: `The initramfs of ${kver} carries the current early claims (${want.filter((l) => l.startsWith('claim ')).length})` } };
  }
  if (f.recordedModules === null) {
    if (want.length === 0) return { state: 'current', staleModules: none, check: { name, status: 'pass', message: `No early claims; the initramfs of ${kver} needs none` } };
    return {
      state: 'unknown', staleModules: none,
      check: { name, status: 'warn', message: `The initramfs of ${kver} was built before pcie-passthroughd's initramfs-tools hook, so it carries no early claims: a host driver it loads (early KMS GPU driver, storage) binds a configured device before the daemon runs. Fix: ${cmd}` },
    };
  }
  const inImage = new Set(f.recordedModules);
  const stale = [...hostModules].filter(([, m]) => inImage.has(m));
  if (stale.length === 0) {
    return { state: 'not-needed', staleModules: none, check: { name, status: 'pass', message: `The initramfs of ${kver} has older early claims, but no host driver of a claimed device is in it; the claims on the root file system come first` } };
  }
  const modules = new Set(stale.map(([, m]) => m));
  const which = stale.map(([a, m]) => `${a} (${m})`).join(', ');
  return {
    state: 'stale', staleModules: modules,
    check: { name, status: 'warn', message: `The initramfs of ${kver} is older than the early claims and loads the host driver of ${which}: at the next boot that driver binds first. Fix: ${cmd}` },
  };
}

/** Module names that a modalias matches in modules.alias (`alias GLOB module` lines; first word wins). */
export function modulesForAlias(aliasFile: string, modalias: string): string[] {
  const out: string[] = [];
  for (const line of aliasFile.split('\n')) {
    if (!line.startsWith('alias pci:')) continue;
    const [, pattern = '', module = ''] = line.split(/\s+/);
    if (globMatch(pattern, modalias) && !out.includes(module)) out.push(module);
  }
  return out;
}

/** fnmatch without flags, as kmod matches aliases: `*`, `?` and `[...]`. */
export function globMatch(pattern: string, text: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i] ?? '';
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`${re}$`).test(text);
}
