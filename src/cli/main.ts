import { parseArgs } from 'node:util';
import { VERSION } from '../version.js';
import { DEFAULT_CONFIG_PATH } from '../paths.js';
import { EXIT, UsageError } from './exit.js';
import { runLocalCommand } from './local.js';
import { COMMAND_HELP, commandHelp } from './help.js';
import { existsSync, statSync } from 'node:fs';
import { under } from '../paths.js';

const HINT = "Try 'pcie-passthroughctl --help'.";

/** parseArgs' messages are long and quote oddly; one line naming the option is enough. */
function parseError(e: unknown): string {
  const { code, message } = e as { code?: string; message: string };
  const option = /'(-[^']*)'/.exec(message)?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${option.split(/\s/)[0] ?? option}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return `option ${option.replace(/ <value>$/, '').split(/[ ,]/).filter((w) => w.startsWith('--'))[0] ?? option} needs a value`;
  return message;
}

const USAGE = `Usage: pcie-passthroughctl [--root DIR] [--config FILE] [--json] COMMAND
       pcie-passthroughctl help COMMAND   (or COMMAND --help): what one command does and its exit codes

Commands:
  list        every PCI device (like lspci -nnk) with its IOMMU group and passthrough state
  groups      IOMMU groups, their members and whether a VM could be given each
  check       verify the IOMMU; exit 0 all pass, 1 a warning, 2 a failure
  plan        what apply would do, changing nothing
  metrics     Prometheus metrics (text exposition format), read directly
  apply       bind the configured devices now (root only)
  status      ask the running daemon (D-Bus); exit 3 not running (then reads directly), 69 no bus
  reload      make the daemon re-read its config (root only)
  reconcile   make the daemon reconcile now (root only)
  setup       prepare the host: kernel command line, boot-time modules, initramfs (root only)
  initramfs   does the initramfs carry the current early claims? --update refreshes it (root only)
  who         processes that have a device open (who ADDRESS): /dev/vfio, DRM, NVIDIA nodes

Options:
  --root DIR      read and write sysfs/proc/etc under DIR instead of / (testing)
  --config FILE   config file (default ${DEFAULT_CONFIG_PATH})
  --bus BUS       for status/reload/reconcile/apply: system (default), session or a D-Bus address
  --update        for initramfs: run update-initramfs -u -k $(uname -r) now
  --json          machine-readable output (stable; see README)
  --nagios        for status: one line and exit code for Nagios/Icinga (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)
  --dry-run       for setup: show the diffs and commands, change nothing
  --yes           for setup: apply without asking
  --iommu-pt      for setup: also add iommu=pt to the kernel command line
  --version, --help`;

export interface CliOptions {
  root: string;
  config: string;
  json: boolean;
  bus: string;
  /** status: one line and exit code following the Nagios plugin API. */
  nagios: boolean;
  /** initramfs: refresh it now (optional: callers that build options by hand need not know it). */
  update?: boolean;
  /** --bus was given (apply asks a daemon there even under --root). */
  busGiven?: boolean;
  /** --config was given (apply through a daemon refuses a file other than the daemon's). */
  configGiven?: boolean;
  /** Operands after the command (only `who ADDRESS` takes one). */
  args?: string[];
}

/** Commands that take operands, and how many. */
const OPERANDS: Record<string, number> = { who: 1 };
function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export async function main(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        root: { type: 'string', default: '/' },
        config: { type: 'string' },
        json: { type: 'boolean', default: false },
        nagios: { type: 'boolean', default: false },
        update: { type: 'boolean', default: false },
        bus: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        yes: { type: 'boolean', short: 'y', default: false },
        'iommu-pt': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'V', default: false },
      },
    });
  } catch (e) {
    err(`pcie-passthroughctl: ${parseError(e)}\n${HINT}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  if (positionals[0] === 'help') {
    const topic = positionals[1];
    if (!topic) {
      out(USAGE);
      return EXIT.ok;
    }
    const text = commandHelp(topic);
    if (!text) {
      err(`pcie-passthroughctl: no help for "${topic}": not a command\n${HINT}`);
      return EXIT.usage;
    }
    out(text);
    return EXIT.ok;
  }
  if (values.help) {
    out((positionals[0] && commandHelp(positionals[0])) || USAGE);
    return EXIT.ok;
  }
  if (values.version) {
    out(`pcie-passthroughctl ${VERSION}`);
    return EXIT.ok;
  }
  const [command, ...rest] = positionals;
  if (!command) {
    err(USAGE);
    return EXIT.usage;
  }
  if (!(command in COMMAND_HELP)) {
    err(`pcie-passthroughctl: unknown command "${command}"\n${HINT}`);
    return EXIT.usage;
  }
  const operands = OPERANDS[command] ?? 0;
  if (rest.length > operands) {
    err(`pcie-passthroughctl: ${command}: unexpected argument "${rest[operands] ?? ''}"\nTry 'pcie-passthroughctl ${command} --help'.`);
    return EXIT.usage;
  }
  if (rest.length < operands) {
    err(`pcie-passthroughctl: ${command} needs a PCI address, e.g. \`pcie-passthroughctl ${command} 01:00.0\`\nTry 'pcie-passthroughctl ${command} --help'.`);
    return EXIT.usage;
  }
  const root = values.root ?? '/';
  if (!isDirectory(root)) {
    err(`pcie-passthroughctl: --root ${root}: no such directory`);
    return EXIT.usage;
  }
  // Only the default path may be absent (then: no devices); a file named on the command line must exist.
  if (values.config !== undefined && !existsSync(under(root, values.config))) {
    err(`pcie-passthroughctl: --config ${values.config}: no such file${root !== '/' ? ` (looked up below --root ${root})` : ''}`);
    return EXIT.failure;
  }
  const opts: CliOptions = {
    root: values.root ?? '/',
    config: values.config ?? DEFAULT_CONFIG_PATH,
    json: values.json ?? false,
    bus: values.bus ?? 'system',
    busGiven: values.bus !== undefined,
    configGiven: values.config !== undefined,
    nagios: values.nagios ?? false,
    update: values.update ?? false,
    args: rest,
  };
  try {
    if (command === 'status' || command === 'reload' || command === 'reconcile') {
      const { runDaemonCommand } = await import('./remote.js');
      return await runDaemonCommand(command, opts, out, err);
    }
    if (command === 'setup') {
      const { runSetup } = await import('./setup.js');
      return await runSetup(opts, { dryRun: values['dry-run'] ?? false, yes: values.yes ?? false, iommuPt: values['iommu-pt'] ?? false }, out, err);
    }
    return await runLocalCommand(command, opts, out, err);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`pcie-passthroughctl: ${e.message}\n${HINT}`);
      return EXIT.usage;
    }
    err(`pcie-passthroughctl: ${(e as Error).message}`);
    return EXIT.failure;
  }
}
