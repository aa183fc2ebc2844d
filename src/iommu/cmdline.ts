/**
 * Pure helpers over the kernel command line: which parameters it carries, and where/how this
 * host's boot loader lets the admin change it (research/anchors.md (c) #12).
 */
import type { IommuFacts } from '../model.js';

export interface CmdlineParam {
  name: string;
  /** Text after the first `=`; null for a bare flag such as `quiet`. */
  value: string | null;
}

/** Parameters for the kernel, in order. Arguments after `--` belong to init and are left out. */
export function cmdlineParams(cmdline: string): CmdlineParam[] {
  const params: CmdlineParam[] = [];
  // A value may be double-quoted to carry spaces: foo="a b".
  const tokens = cmdline.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
  for (const token of tokens) {
    if (token === '--') break;
    const eq = token.indexOf('=');
    const name = eq < 0 ? token : token.slice(0, eq);
    const value = eq < 0 ? null : token.slice(eq + 1).replace(/^"(.*)"$/, '$1');
    params.push({ name, value });
  }
  return params;
}

/** Every comma-separated option given to `name` (`intel_iommu=on,igfx_off` → on, igfx_off). */
export function paramOptions(cmdline: string, name: string): string[] {
  return cmdlineParams(cmdline)
    .filter((p) => p.name === name && p.value !== null)
    .flatMap((p) => (p.value ?? '').split(','));
}

/** The exact `name=value` token(s) as written, for "remove X" advice. */
export function paramTokens(cmdline: string, name: string, option: string): string[] {
  return cmdlineParams(cmdline)
    .filter((p) => p.name === name && (p.value ?? '').split(',').includes(option))
    .map((p) => `${p.name}=${p.value}`);
}

/** intel_iommu options are applied in order, so the last on/off decides. */
export function intelIommuSwitch(cmdline: string): 'on' | 'off' | null {
  const switches = paramOptions(cmdline, 'intel_iommu').filter((o) => o === 'on' || o === 'off');
  return (switches[switches.length - 1] as 'on' | 'off' | undefined) ?? null;
}

export interface CmdlineHowTo {
  /** Where the parameters live, e.g. "GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub". */
  where: string;
  /** Command that makes the change take effect at the next boot. */
  apply: string;
}

type BootFacts = Pick<IommuFacts, 'bootloader' | 'kernelRelease' | 'kernelCmdlineFile'> & Partial<Pick<IommuFacts, 'cmdline' | 'efiBoot'>>;

/**
 * Which loader booted the running kernel, from /proc/cmdline: GRUB's `linux` command puts
 * BOOT_IMAGE=<path> first; systemd-boot (an EFI stub entry) passes `initrd=\EFI\…` with backslashes.
 */
export function bootedBy(cmdline: string | undefined): 'grub' | 'systemd-boot' | null {
  const params = cmdlineParams(cmdline ?? '');
  if (params[0]?.name === 'BOOT_IMAGE') return 'grub';
  if (params.some((p) => p.name === 'initrd' && (p.value ?? '').includes('\\'))) return 'systemd-boot';
  return null;
}

/** proxmox-boot-tool sets up GRUB (legacy BIOS, Secure Boot) or systemd-boot (UEFI) on its ESPs. */
export function proxmoxLoader(facts: BootFacts): 'grub' | 'systemd-boot' {
  const booted = bootedBy(facts.cmdline);
  if (booted) return booted;
  if (facts.efiBoot === false) return 'grub';
  return facts.kernelCmdlineFile ? 'systemd-boot' : 'grub';
}

export function cmdlineHowTo(facts: BootFacts): CmdlineHowTo {
  const { kernelRelease } = facts;
  // What booted this kernel outranks which config files exist (a host may carry both).
  const booted = bootedBy(facts.cmdline);
  const bootloader = facts.bootloader === 'proxmox-boot-tool' || facts.bootloader === 'unknown' ? facts.bootloader : (booted ?? facts.bootloader);
  switch (bootloader) {
    case 'proxmox-boot-tool':
      // zz-proxmox-boot copies /etc/kernel/cmdline into the systemd-boot entries of every ESP;
      // ESPs it manages with GRUB ignore that file and take GRUB_CMDLINE_LINUX* from /etc/default/grub.
      return proxmoxLoader(facts) === 'systemd-boot'
        ? { where: '/etc/kernel/cmdline (one line)', apply: 'proxmox-boot-tool refresh' }
        : { where: 'GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub', apply: 'proxmox-boot-tool refresh' };
    case 'systemd-boot': {
      const release = kernelRelease ?? '$(uname -r)';
      return { where: '/etc/kernel/cmdline (one line)', apply: `kernel-install add ${release} /boot/vmlinuz-${release}` };
    }
    case 'grub':
      return { where: 'GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub', apply: 'update-grub' };
    case 'unknown':
      return {
        where: "your boot loader's kernel command line (GRUB: GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub; systemd-boot: /etc/kernel/cmdline)",
        apply: 'the boot loader\'s update command (GRUB: update-grub; Proxmox: proxmox-boot-tool refresh)',
      };
  }
}

/** "add `p` to <file>, run `<command>`" — the caller says when to reboot. */
export function addParamAdvice(param: string, facts: BootFacts): string {
  const how = cmdlineHowTo(facts);
  return `add \`${param}\` to ${how.where}, run \`${how.apply}\``;
}

export function removeParamAdvice(tokens: string[], facts: BootFacts): string {
  const how = cmdlineHowTo(facts);
  const where = how.where.includes('/etc/default/grub') ? 'GRUB_CMDLINE_LINUX_DEFAULT or GRUB_CMDLINE_LINUX in /etc/default/grub' : how.where;
  const list = tokens.map((t) => `\`${t}\``).join(' and ');
  return `remove ${list} from ${where}, run \`${how.apply}\``;
}
