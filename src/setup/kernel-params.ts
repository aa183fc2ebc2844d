/**
 * Which kernel parameters this host needs for passthrough, and the pure edit of one argument
 * string: wrong switches dropped, missing ones appended, every other argument kept as written.
 */
import type { IommuFacts } from '../model.js';
import { intelIommuSwitch, paramOptions } from '../iommu/cmdline.js';
import { iommuFamily } from '../iommu/fix.js';

export interface ParamOptions {
  /** Add `iommu=pt` (identity domains for host-owned devices); only when the admin asks. */
  iommuPt: boolean;
}

export interface ParamChange {
  /** The argument as written before (null for an addition). */
  from: string | null;
  /** The argument afterwards (null for a removal). */
  to: string | null;
  why: string;
}

/** Options of a switch that defeat passthrough, by parameter name (kernel-parameters.txt). */
const WRONG_OPTIONS: Record<string, { option: string; why: string }[]> = {
  intel_iommu: [{ option: 'off', why: 'intel_iommu=off turns the Intel IOMMU off' }],
  amd_iommu: [
    { option: 'off', why: 'amd_iommu=off turns AMD-Vi off' },
    // Not a mainline value: the kernel logs "AMD-Vi: Unknown option - 'on'" and ignores it.
    { option: 'on', why: 'amd_iommu=on is not a valid value (AMD-Vi is on by default)' },
  ],
  iommu: [{ option: 'off', why: 'iommu=off turns every IOMMU off' }],
  intremap: [{ option: 'off', why: 'intremap=off turns interrupt remapping off (vfio then refuses to start VMs)' }],
};

const NOIOMMU_PARAM = 'vfio.enable_unsafe_noiommu_mode';

/** Splits like the kernel does: whitespace outside double quotes. */
export function splitArgs(args: string): string[] {
  return args.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
}

function nameOf(token: string): string {
  const eq = token.indexOf('=');
  return eq < 0 ? token : token.slice(0, eq);
}

/** One token with its wrong options dropped; null when nothing of it remains. */
function fixToken(token: string): { token: string | null; why: string[] } {
  const name = nameOf(token);
  if (name === NOIOMMU_PARAM) {
    const value = token.slice(name.length + 1);
    if (token === name || !/^(0|n|N|off|false)$/.test(value)) {
      return { token: null, why: [`${NOIOMMU_PARAM} gives devices no isolation at all`] };
    }
    return { token, why: [] };
  }
  const wrong = WRONG_OPTIONS[name];
  if (!wrong || !token.includes('=')) return { token, why: [] };
  const options = token.slice(name.length + 1).split(',');
  const why: string[] = [];
  const kept = options.filter((o) => {
    const hit = wrong.find((w) => w.option === o);
    if (hit) why.push(hit.why);
    return !hit;
  });
  if (why.length === 0) return { token, why };
  return { token: kept.filter(Boolean).length > 0 ? `${name}=${kept.join(',')}` : null, why };
}

/** The Intel IOMMU stays off unless this kernel enables it by default (Kconfig INTEL_IOMMU_DEFAULT_ON). */
export function intelNeedsSwitch(facts: IommuFacts): { needed: boolean; why: string } {
  const config = facts.kernelConfig;
  const file = `/boot/config-${facts.kernelRelease ?? '<release>'}`;
  if (config?.CONFIG_INTEL_IOMMU_DEFAULT_ON === 'y') return { needed: false, why: `CONFIG_INTEL_IOMMU_DEFAULT_ON=y in ${file}` };
  if (config?.CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF === 'y') return { needed: false, why: `CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF=y in ${file}` };
  if (config === null) return { needed: true, why: `${file} is missing, so this kernel's default is unknown` };
  return { needed: true, why: `this kernel does not enable the Intel IOMMU by default (no CONFIG_INTEL_IOMMU_DEFAULT_ON=y in ${file})` };
}

/** Parameters to append when the whole effective command line (`all`) lacks them. */
export function missingParams(facts: IommuFacts, all: string, options: ParamOptions): ParamChange[] {
  const adds: ParamChange[] = [];
  if (iommuFamily(facts) === 'intel' && facts.kernelConfig?.CONFIG_INTEL_IOMMU !== 'n' && intelIommuSwitch(all) !== 'on') {
    const need = intelNeedsSwitch(facts);
    if (need.needed) adds.push({ from: null, to: 'intel_iommu=on', why: need.why });
  }
  if (options.iommuPt && !paramOptions(all, 'iommu').includes('pt')) {
    adds.push({ from: null, to: 'iommu=pt', why: 'asked for with --iommu-pt' });
  }
  return adds;
}

export interface EditedArgs {
  args: string;
  changes: ParamChange[];
}

/** Drops wrong switches from `args`; when `adds` is given, appends them. Other arguments are kept verbatim. */
export function editArgs(args: string, adds: ParamChange[] = []): EditedArgs {
  const changes: ParamChange[] = [];
  const kept: string[] = [];
  const tokens = splitArgs(args);
  // Arguments after `--` belong to init: left alone, and additions go before them.
  const end = tokens.indexOf('--') < 0 ? tokens.length : tokens.indexOf('--');
  for (const token of tokens.slice(0, end)) {
    const fixed = fixToken(token);
    if (fixed.why.length > 0) changes.push({ from: token, to: fixed.token, why: fixed.why.join('; ') });
    if (fixed.token !== null) kept.push(fixed.token);
  }
  for (const add of adds) {
    if (add.to !== null) kept.push(add.to);
    changes.push(add);
  }
  kept.push(...tokens.slice(end));
  if (changes.length === 0) return { args, changes };
  return { args: kept.join(' '), changes };
}
