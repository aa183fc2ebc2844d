/** Per-command help (`pcie-passthroughctl plan --help`, `pcie-passthroughctl help plan`). */

interface CommandHelp {
  usage: string;
  text: string;
}

const COMMON = `  --root DIR      read sysfs/proc/etc under DIR instead of /
  --config FILE   config file (default /etc/pcie-passthroughd/config.toml; only the default may be absent)
  --json          one JSON document (stable fields, see README)`;

export const COMMAND_HELP: Record<string, CommandHelp> = {
  list: {
    usage: 'pcie-passthroughctl list [--json]',
    text: `Every PCI device, like lspci -nnk: address, class, ids, driver, IOMMU group, passthrough state and
why. A broken config still shows the table, with the errors (exit 2).
Exit: 0; 1 a configured address or id matches no device; 2 config invalid.`,
  },
  groups: {
    usage: 'pcie-passthroughctl groups [--json]',
    text: `The IOMMU groups and their members. ISOLATED: the group can be given to a VM at all (no host bridge
or other non-passthrough function in it); READY: every endpoint is on vfio-pci or unbound now.
Exit: 0.`,
  },
  check: {
    usage: 'pcie-passthroughctl check [--json]',
    text: `Verifies the IOMMU (firmware, kernel, DMA and interrupt remapping, vfio modules, ...), each result
with the one fix for this host.
Exit: 0 all pass, 1 a warning, 2 a failure (as monitoring plugins expect).`,
  },
  plan: {
    usage: 'pcie-passthroughctl plan [--json]',
    text: `What apply (or the daemon) would do now, changing nothing, and the verdict for every configured device.
Exit: 0 every configured device is or would be bound, 1 otherwise, 2 config invalid.`,
  },
  metrics: {
    usage: 'pcie-passthroughctl metrics',
    text: `Prometheus metrics (text exposition format) from a direct read; the daemon writes the same series,
plus its reconcile counters, to metrics_textfile after every reconcile.
Exit: 0; 2 config invalid (metrics still printed, pcie_passthroughd_config_error 1).`,
  },
  apply: {
    usage: 'pcie-passthroughctl apply [--json] [--bus BUS]',
    text: `Binds the configured devices now, as the daemon would (root only). When the daemon runs, asks it
to reconcile over D-Bus instead and says so; acts itself only when no daemon answers, holding the lock
the daemon takes too (/run/pcie-passthroughd/apply.lock).
Exit: 0 every configured device bound, 1 otherwise, 2 config invalid, 77 not root.`,
  },
  status: {
    usage: 'pcie-passthroughctl status [--json | --nagios] [--bus BUS]',
    text: `Asks the running daemon over D-Bus. When it does not answer, says why and reads directly.
  --nagios        one line for Nagios/Icinga: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
  --bus BUS       system (default), session or a D-Bus address
Exit: 0 ready, 1 degraded, 2 failed, 3 the daemon is not running or not answering, 69 no system bus.`,
  },
  reload: {
    usage: 'pcie-passthroughctl reload [--bus BUS]',
    text: `Makes the daemon re-read its config (root only).
Exit: 0; 1 the config is invalid (the last good one stays); 69 daemon not running; 77 not root.`,
  },
  reconcile: {
    usage: 'pcie-passthroughctl reconcile [--json] [--bus BUS]',
    text: `Makes the daemon observe, plan and act now; prints what it changed (root only).
Exit: 0; 1 an action failed; 69 daemon not running; 77 not root.`,
  },
  initramfs: {
    usage: 'pcie-passthroughctl initramfs [--update] [--json]',
    text: `Does the initramfs carry the current early claims? (root only to update)
  --update        run update-initramfs -u -k $(uname -r) now (chrooted into --root DIR if given)`,
  },
  who: {
    usage: 'pcie-passthroughctl who ADDRESS [--json]',
    text: `Processes that have a device open: /dev/vfio groups, DRM and NVIDIA nodes.`,
  },
  setup: {
    usage: 'pcie-passthroughctl setup [--dry-run] [--yes] [--iommu-pt] [--json]',
    text: `Prepares the host: kernel command line, boot-time vfio modules, initramfs; shows diffs first (root only).
  --dry-run       show the diffs and commands, change nothing
  --yes           apply without asking
  --iommu-pt      also add iommu=pt to the kernel command line`,
  },
};

export function commandHelp(command: string): string | null {
  const h = COMMAND_HELP[command];
  if (!h) return null;
  return `Usage: ${h.usage}\n\n${h.text}\n\nCommon options:\n${COMMON}`;
}
