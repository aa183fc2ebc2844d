/** Plain data in and out of the setup planner (src/setup/plan.ts). */
import type { IommuFacts } from '../model.js';
import type { ParamOptions } from './kernel-params.js';

export interface SetupInput {
  facts: IommuFacts;
  /** IOMMU groups that isolate (vfio-noiommu fakes left out). */
  iommuGroups: number;
  /** Text of every file the planner may read or edit, by absolute path; null = absent. */
  files: Record<string, string | null>;
  /** /etc/default/grub.d/*.cfg, in the order grub-mkconfig sources them. */
  grubDropIns: string[];
  /** /etc/modules-load.d/*.conf. */
  modulesLoadD: string[];
  options: ParamOptions;
  /**
   * Why the initramfs must be rebuilt for reasons outside this planner (the early-claim hook
   * files newer than the initramfs); null when it is current or nobody checks.
   */
  initramfsStale: string | null;
}

export interface FileEdit {
  path: string;
  /** null: the file is created. */
  before: string | null;
  after: string;
  /** One line per reason, in the order found. */
  why: string[];
  /** What a reboot makes of it, for "reboot to apply: …". */
  effect: string;
  diff: string;
}

export interface PlannedCommand {
  argv: string[];
  why: string;
  /** What a reboot makes of it once it ran, for "reboot to apply: …" (null: the file edits say it). */
  effect: string | null;
}

/** A change that is needed but that setup will not make: the admin does it by hand. */
export interface Refusal {
  path: string;
  line: number | null;
  problem: string;
  byHand: string;
}

/** Firmware (or outer hypervisor) settings: reported with the exact setting, never "fixed". */
export interface FirmwareProblem {
  name: 'iommu-firmware' | 'virtualization' | 'virtual-iommu' | 'nested-virtualization';
  problem: string;
  setting: string;
}

export interface SetupPlan {
  edits: FileEdit[];
  commands: PlannedCommand[];
  refused: Refusal[];
  firmware: FirmwareProblem[];
  /** The file edits already made whose effect the running kernel does not have yet (second run). */
  rebootPending: string[];
}
