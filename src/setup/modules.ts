/**
 * Boot-time module loading: the vfio modules in our own modules-load.d(5) file when no file lists
 * them yet, and `vfio_virqfd` lines dropped where the running kernel no longer has that module.
 */
import type { IommuFacts } from '../model.js';
import { findVirqfdLines, kernelVersion, normalizeModuleName } from '../iommu/parse.js';

export const MODULES_FILE = '/etc/modules-load.d/pcie-passthroughd.conf';
export const VFIO_MODULES = ['vfio', 'vfio_iommu_type1', 'vfio_pci'] as const;
export const INITRAMFS_MODULES = '/etc/initramfs-tools/modules';

export const MODULES_FILE_TEXT = `# Written by pcie-passthroughctl setup: VFIO modules loaded at every boot (modules-load.d(5)).
${VFIO_MODULES.join('\n')}
`;

/** Module names a modules-load.d / /etc/modules file lists (comments start with # or ;). */
export function listedModules(text: string): Set<string> {
  const names = new Set<string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    names.add(normalizeModuleName(line.split(/\s+/, 1)[0] ?? ''));
  }
  return names;
}

/** VFIO modules neither built in nor listed in any of `files` (path → text). */
export function unlistedVfioModules(facts: IommuFacts, files: Record<string, string>): string[] {
  const listed = new Set(Object.values(files).flatMap((t) => [...listedModules(t)]));
  return VFIO_MODULES.filter((m) => facts.modules[m] !== 'builtin' && !listed.has(m));
}

/** vfio_virqfd was folded into vfio in Linux 6.2: loading it by name fails from then on. */
export function virqfdIsGone(release: string | null): boolean {
  const v = kernelVersion(release);
  return v !== null && (v[0] > 6 || (v[0] === 6 && v[1] >= 2));
}

/** `text` without its vfio_virqfd lines (null when it has none). */
export function withoutVirqfd(path: string, text: string): { text: string; lines: number[] } | null {
  const hits = findVirqfdLines(path, text);
  if (hits.length === 0) return null;
  const drop = new Set(hits.map((h) => h.line - 1));
  return { text: text.split('\n').filter((_, i) => !drop.has(i)).join('\n'), lines: hits.map((h) => h.line) };
}
