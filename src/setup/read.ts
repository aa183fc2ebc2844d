/** Gathers the planner's input from a host (or a tree under --root): facts plus the files it edits. */
import { observe } from '../engine.js';
import type { Snapshot } from '../model.js';
import { listDir, readText } from '../iommu/files.js';
import { under } from '../paths.js';
import type { ParamOptions } from './kernel-params.js';
import { INITRAMFS_MODULES, MODULES_FILE } from './modules.js';
import { DEFAULT_GRUB, ETC_MODULES, KERNEL_CMDLINE } from './plan.js';
import type { SetupInput } from './types.js';

async function confFiles(root: string, dir: string, suffix: string): Promise<string[]> {
  // grub-mkconfig and systemd-modules-load take these in name order (C collation here).
  return (await listDir(under(root, dir))).filter((f) => f.endsWith(suffix)).map((f) => `${dir}/${f}`);
}

export async function readSetupInput(root: string, options: ParamOptions, initramfsStale: string | null = null, observed?: Snapshot): Promise<SetupInput> {
  const [snapshot, grubDropIns, modulesLoadD] = await Promise.all([
    observed ?? observe(root),
    confFiles(root, '/etc/default/grub.d', '.cfg'),
    confFiles(root, '/etc/modules-load.d', '.conf'),
  ]);
  const paths = [...new Set([KERNEL_CMDLINE, DEFAULT_GRUB, ...grubDropIns, ETC_MODULES, ...modulesLoadD, MODULES_FILE, INITRAMFS_MODULES])];
  const texts = await Promise.all(paths.map((p) => readText(under(root, p))));
  return {
    facts: snapshot.iommu,
    iommuGroups: snapshot.groups.filter((g) => g.name !== 'vfio-noiommu').length,
    files: Object.fromEntries(paths.map((p, i) => [p, texts[i] ?? null])),
    grubDropIns,
    modulesLoadD,
    options,
    initramfsStale,
  };
}
