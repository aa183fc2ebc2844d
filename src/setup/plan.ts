/**
 * The setup planner: from check's facts and the text of the boot configuration files, the
 * per-file edits, the commands that make them take effect, what must be done by hand, and the
 * firmware settings to change. Pure: no I/O; the same input always gives the same plan.
 */
import type { IommuFacts } from '../model.js';
import { cmdlineHowTo } from '../iommu/cmdline.js';
import { firmwareAdvice, iommuFamily } from '../iommu/fix.js';
import { unifiedDiff } from './diff.js';
import { assignmentLine, findAssignment, GRUB_VARS, quotable, type GrubAssignment, type GrubVar } from './grub.js';
import { editArgs, missingParams, splitArgs, type ParamChange } from './kernel-params.js';
import { INITRAMFS_MODULES, MODULES_FILE, MODULES_FILE_TEXT, unlistedVfioModules, virqfdIsGone, withoutVirqfd } from './modules.js';
import type { FileEdit, FirmwareProblem, PlannedCommand, Refusal, SetupInput, SetupPlan } from './types.js';

export const KERNEL_CMDLINE = '/etc/kernel/cmdline';
export const DEFAULT_GRUB = '/etc/default/grub';
export const ETC_MODULES = '/etc/modules';

/** Where this host's boot loader takes the kernel arguments from, and how they take effect. */
export type CmdlineSource =
  | { kind: 'kernel-cmdline'; update: string }
  | { kind: 'grub'; update: string }
  | { kind: 'unknown' };

export function cmdlineSource(facts: IommuFacts): CmdlineSource {
  if (facts.bootloader === 'unknown') return { kind: 'unknown' };
  const how = cmdlineHowTo(facts);
  return how.where.startsWith(KERNEL_CMDLINE) ? { kind: 'kernel-cmdline', update: how.apply } : { kind: 'grub', update: how.apply };
}

/** Collects edits per file so that several reasons to change one file make one diff. */
class Edits {
  private readonly byPath = new Map<string, { before: string | null; after: string; why: string[]; effects: string[] }>();

  constructor(private readonly files: Record<string, string | null>) {}

  current(path: string): string | null {
    return this.byPath.get(path)?.after ?? this.files[path] ?? null;
  }

  set(path: string, after: string, why: string, effect: string): void {
    const entry = this.byPath.get(path) ?? { before: this.files[path] ?? null, after, why: [], effects: [] };
    entry.after = after;
    entry.why.push(why);
    if (!entry.effects.includes(effect)) entry.effects.push(effect);
    this.byPath.set(path, entry);
  }

  has(path: string): boolean {
    return this.byPath.has(path);
  }

  list(): FileEdit[] {
    return [...this.byPath]
      .filter(([, e]) => e.after !== e.before)
      .map(([path, e]) => ({ path, before: e.before, after: e.after, why: e.why, effect: e.effects.join('; '), diff: unifiedDiff(path, e.before, e.after) }));
  }
}

function describeChanges(changes: ParamChange[]): string {
  return changes.map((c) => (c.to === null ? `-${c.from}` : c.from === null ? `+${c.to}` : `${c.from} → ${c.to}`)).join(' ');
}

function changeReasons(changes: ParamChange[]): string[] {
  return changes.map((c) => (c.to === null ? `remove ${c.from}: ${c.why}` : c.from === null ? `add ${c.to}: ${c.why}` : `${c.from} → ${c.to}: ${c.why}`));
}

/** What the running kernel's own command line would need: the advice when a file cannot be edited. */
function neededOnRunningCmdline(input: SetupInput): ParamChange[] {
  const removed = editArgs(input.facts.cmdline);
  return [...removed.changes, ...missingParams(input.facts, removed.args, input.options)];
}

function byHandText(changes: ParamChange[], where: string, update: string): string {
  const adds = changes.filter((c) => c.to !== null).map((c) => `\`${c.to}\``);
  const removes = changes.filter((c) => c.from !== null).map((c) => `\`${c.from}\``);
  const steps = [...(adds.length ? [`add ${adds.join(' ')}`] : []), ...(removes.length ? [`remove ${removes.join(' ')}`] : [])];
  return `edit ${where} by hand: ${steps.join(' and ')}, then run \`${update}\``;
}

function planKernelCmdline(input: SetupInput, edits: Edits, refused: Refusal[], source: Extract<CmdlineSource, { kind: 'kernel-cmdline' }>): ParamChange[] {
  const text = input.files[KERNEL_CMDLINE] ?? null;
  // Without the file, proxmox-boot-tool and kernel-install take /proc/cmdline minus initrd= and
  // BOOT_IMAGE=; the file is created from exactly that, so nothing else changes at the next refresh.
  const lines = text === null
    ? [splitArgs(input.facts.cmdline).filter((t) => !/^(initrd|BOOT_IMAGE)=/.test(t)).join(' ')].filter(Boolean)
    : text.split('\n').map((l) => l.trim()).filter(Boolean);
  const removed = editArgs(lines.join(' '));
  const adds = missingParams(input.facts, removed.args, input.options);
  const final = editArgs(removed.args, adds);
  const changes = [...removed.changes, ...adds];
  // kernel-install joins lines, but proxmox-boot-tool copies the file verbatim into `options`.
  const multiLine = lines.length > 1;
  if (changes.length === 0 && (!multiLine || text === null)) return [];
  const created = text === null ? [`create it from the running kernel's command line, which \`${source.update}\` uses while it is missing`] : [];
  const why = [...created, ...changeReasons(changes), ...(multiLine ? [`join its ${lines.length} lines into one (the boot loader entry takes one line)`] : [])];
  for (const reason of why) edits.set(KERNEL_CMDLINE, `${final.args}\n`, reason, `kernel command line (${describeChanges(changes) || 'one line'})`);
  return changes;
}

function planGrub(input: SetupInput, edits: Edits, refused: Refusal[], source: Extract<CmdlineSource, { kind: 'grub' }>): ParamChange[] {
  const files = [DEFAULT_GRUB, ...input.grubDropIns]
    .map((path) => ({ path, text: input.files[path] ?? null }))
    .filter((f): f is { path: string; text: string } => f.text !== null);
  const where = `GRUB_CMDLINE_LINUX_DEFAULT in ${DEFAULT_GRUB}`;
  if (files.length === 0) {
    const needed = neededOnRunningCmdline(input);
    if (needed.length) refused.push({ path: DEFAULT_GRUB, line: null, problem: `${DEFAULT_GRUB} does not exist`, byHand: byHandText(needed, where, source.update) });
    return [];
  }
  const found = new Map<GrubVar, GrubAssignment | null>();
  for (const name of GRUB_VARS) {
    const lookup = findAssignment(files, name);
    if (lookup.kind === 'refused') {
      const needed = neededOnRunningCmdline(input);
      // Nothing to change as far as the running kernel shows: leave the computed value alone.
      if (needed.length === 0) return [];
      const { file, line, problem } = lookup.refusal;
      refused.push({ path: file, line, problem: `${file} line ${line}: ${problem}, so pcie-passthroughctl will not rewrite it`, byHand: byHandText(needed, `${name} in ${file}`, source.update) });
      return [];
    }
    found.set(name, lookup.kind === 'found' ? lookup.at : null);
  }
  const linux = found.get('GRUB_CMDLINE_LINUX') ?? null;
  const dflt = found.get('GRUB_CMDLINE_LINUX_DEFAULT') ?? null;
  const linuxRemoved = editArgs(linux?.value ?? '');
  const defaultRemoved = editArgs(dflt?.value ?? '');
  const adds = missingParams(input.facts, `${linuxRemoved.args} ${defaultRemoved.args}`, input.options);
  const defaultFinal = editArgs(defaultRemoved.args, adds);
  const all = [...linuxRemoved.changes, ...defaultRemoved.changes, ...adds];
  if (all.length === 0) return [];
  const effect = `kernel command line (${describeChanges(all)})`;

  const updates: { name: GrubVar; at: GrubAssignment | null; value: string; changes: ParamChange[] }[] = [
    { name: 'GRUB_CMDLINE_LINUX', at: linux, value: linuxRemoved.args, changes: linuxRemoved.changes },
    { name: 'GRUB_CMDLINE_LINUX_DEFAULT', at: dflt, value: defaultFinal.args, changes: [...defaultRemoved.changes, ...adds] },
  ];
  for (const u of updates) {
    if (u.changes.length === 0) continue;
    if (!quotable(u.value)) {
      refused.push({ path: u.at?.file ?? DEFAULT_GRUB, line: u.at ? u.at.index + 1 : null, problem: `${u.name} would need both quote characters`, byHand: byHandText(u.changes, `${u.name} in ${u.at?.file ?? DEFAULT_GRUB}`, source.update) });
      return [];
    }
  }
  for (const u of updates) {
    if (u.changes.length === 0) continue;
    const path = u.at?.file ?? DEFAULT_GRUB;
    const text = edits.current(path) ?? '';
    let after: string;
    if (u.at) {
      const lines = text.split('\n');
      lines[u.at.index] = assignmentLine(u.at, u.value);
      after = lines.join('\n');
    } else {
      after = `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${assignmentLine({ prefix: `${u.name}=`, quote: '"', suffix: '' }, u.value)}\n`;
    }
    for (const reason of changeReasons(u.changes)) edits.set(path, after, `${u.name}: ${reason}`, effect);
  }
  return all;
}

function planModules(input: SetupInput, edits: Edits): { initramfs: string | null } {
  const { facts } = input;
  const listing: Record<string, string> = {};
  for (const path of [ETC_MODULES, ...input.modulesLoadD]) {
    const text = input.files[path];
    if (typeof text === 'string') listing[path] = text;
  }
  const unlisted = unlistedVfioModules(facts, listing);
  if (unlisted.length > 0) {
    edits.set(MODULES_FILE, MODULES_FILE_TEXT, `load ${unlisted.join(', ')} at boot (no file in /etc/modules or /etc/modules-load.d lists ${unlisted.length > 1 ? 'them' : 'it'})`, `VFIO modules loaded at boot (${unlisted.join(', ')})`);
  }
  let initramfs: string | null = null;
  if (virqfdIsGone(facts.kernelRelease)) {
    for (const path of [ETC_MODULES, ...input.modulesLoadD, INITRAMFS_MODULES]) {
      const text = edits.current(path);
      const stripped = text === null ? null : withoutVirqfd(path, text);
      if (!stripped) continue;
      const why = `remove vfio_virqfd (line ${stripped.lines.join(', ')}): kernel ${facts.kernelRelease} has no such module (merged into vfio since 6.2)`;
      edits.set(path, stripped.text, why, path === INITRAMFS_MODULES ? 'initramfs without vfio_virqfd' : 'no "Module vfio_virqfd not found" at boot');
      if (path === INITRAMFS_MODULES) initramfs = `${INITRAMFS_MODULES} changed`;
    }
  }
  return { initramfs };
}

function planFirmware(input: SetupInput): FirmwareProblem[] {
  const { facts } = input;
  const problems: FirmwareProblem[] = [];
  const flags = new Set(facts.cpuFlags);
  const isVm = flags.has('hypervisor');
  const announced = facts.acpiTables.length > 0 || facts.iommuUnits.length > 0 || input.iommuGroups > 0;
  if (!announced) {
    if (isVm) {
      problems.push({
        name: 'virtual-iommu',
        problem: 'This host is itself a virtual machine (CPU flag "hypervisor") and its hypervisor gives it no IOMMU (no DMAR/IVRS table)',
        setting: 'on the outer host, give this VM a virtual IOMMU with interrupt remapping: Proxmox VE `qm set VMID --machine q35,viommu=intel`; libvirt `<iommu model="intel"><driver intremap="on" caching_mode="on"/></iommu>` with `<ioapic driver="qemu"/>`; QEMU `-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on,caching-mode=on`; then power this VM off and on',
      });
    } else {
      problems.push({
        name: 'iommu-firmware',
        problem: 'The firmware announces no IOMMU (no ACPI DMAR/IVRS/IORT table in /sys/firmware/acpi/tables)',
        setting: `${firmwareAdvice(iommuFamily(facts), facts.cpuFlags)}, then reboot`,
      });
    }
  }
  const x86 = facts.cpuVendor === 'intel' || facts.cpuVendor === 'amd';
  if (x86 && !flags.has('vmx') && !flags.has('svm')) {
    if (isVm) {
      const module = facts.cpuVendor === 'intel' ? 'kvm_intel' : 'kvm_amd';
      problems.push({
        name: 'nested-virtualization',
        problem: `This virtual machine's CPU has no ${facts.cpuVendor === 'intel' ? 'vmx' : 'svm'} flag, so KVM cannot run guests here`,
        setting: `on the outer host, enable nested virtualization (\`options ${module} nested=1\`) and give this VM the host CPU type (Proxmox VE \`cpu: host\`, QEMU \`-cpu host\`)`,
      });
    } else {
      problems.push({
        name: 'virtualization',
        problem: `The CPU has no ${facts.cpuVendor === 'intel' ? 'vmx' : 'svm'} flag: virtualization is off in the firmware`,
        setting: facts.cpuVendor === 'intel'
          ? 'enable "Intel Virtualization Technology" (VT-x) in the firmware (BIOS/UEFI) setup, then reboot'
          : 'enable "SVM Mode" in the firmware (BIOS/UEFI) setup, then reboot',
      });
    }
  }
  return problems;
}

export function planSetup(input: SetupInput): SetupPlan {
  const edits = new Edits(input.files);
  const refused: Refusal[] = [];
  const commands: PlannedCommand[] = [];
  const source = cmdlineSource(input.facts);

  let cmdlineChanges: ParamChange[] = [];
  if (source.kind === 'kernel-cmdline') cmdlineChanges = planKernelCmdline(input, edits, refused, source);
  else if (source.kind === 'grub') cmdlineChanges = planGrub(input, edits, refused, source);
  else {
    const needed = neededOnRunningCmdline(input);
    if (needed.length) {
      refused.push({
        path: '/proc/cmdline',
        line: null,
        problem: 'Could not tell which boot loader this host uses (no /etc/kernel/proxmox-boot-uuids, /etc/default/grub or /etc/kernel/cmdline)',
        byHand: byHandText(needed, "your boot loader's kernel command line", "your boot loader's update command"),
      });
    }
  }

  const modules = planModules(input, edits);
  const initramfs = modules.initramfs ?? input.initramfsStale;
  if (initramfs) commands.push({ argv: ['update-initramfs', '-u', '-k', 'all'], why: `rebuild the initramfs: ${initramfs}`, effect: modules.initramfs ? null : 'early claims in the initramfs' });
  const cmdlineEdited = [KERNEL_CMDLINE, DEFAULT_GRUB, ...input.grubDropIns].some((p) => edits.has(p));
  if (cmdlineEdited && source.kind !== 'unknown') {
    commands.push({ argv: source.update.split(' '), why: `write the new kernel command line (${describeChanges(cmdlineChanges) || 'one line'}) into the boot loader's entries`, effect: null });
  }

  const planned = edits.list();
  // Nothing left to edit, yet the running kernel was booted before the last edit.
  const rebootPending: string[] = [];
  if (!cmdlineEdited && refused.length === 0 && source.kind !== 'unknown') {
    const running = neededOnRunningCmdline(input);
    if (running.length) rebootPending.push(`kernel command line (${describeChanges(running)})`);
  }
  return { edits: planned, commands, refused, firmware: planFirmware(input), rebootPending };
}
