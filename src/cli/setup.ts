/**
 * `pcie-passthroughctl setup`: host preparation (kernel command line, boot-time modules,
 * initramfs) planned by src/setup, shown as diffs, applied only with --yes or a "y" on a terminal.
 * Never reboots. Exit: 0 prepared (nothing to do, or applied), 1 changes pending (not applied),
 * 2 incomplete (a file refused, a firmware setting, a write or command failed), 77 not root.
 */
import { createInterface } from 'node:readline/promises';
import { writeClaimsFile } from '../claim/files.js';
import { observe } from '../engine.js';
import { claimsInitramfs } from '../setup/claims.js';
import { runCommand, writeEdit, type CommandResult, type WriteResult } from '../setup/apply.js';
import { planSetup } from '../setup/plan.js';
import { readSetupInput } from '../setup/read.js';
import { outcomeText, planText, rebootLine, setupJson, setupStatus, type SetupOutcome } from '../setup/report.js';
import { EXIT } from './exit.js';
import type { CliOptions } from './main.js';

type Print = (s: string) => void;

export interface SetupFlags {
  dryRun: boolean;
  yes: boolean;
  iommuPt: boolean;
}

/** Asks on the terminal; null when there is none to ask on. */
export type Confirm = (question: string) => Promise<boolean | null>;

export const terminalConfirm: Confirm = async (question) => {
  if (!process.stdin.isTTY || !process.stdout.isTTY) return null;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
};

export async function runSetup(opts: CliOptions, flags: SetupFlags, out: Print, err: Print, confirm: Confirm = terminalConfirm): Promise<number> {
  const asRoot = opts.root !== '/' || process.getuid?.() === 0;
  if (!asRoot && !flags.dryRun) {
    err('pcie-passthroughctl: setup edits files in /etc and needs root (try sudo, or --dry-run to only show the changes)');
    return EXIT.noPermission;
  }
  const snapshot = await observe(opts.root);
  const claims = await claimsInitramfs(opts.root, opts.config, snapshot);
  if (claims.note) err(`warning: ${claims.note}`);
  const plan = planSetup(await readSetupInput(opts.root, { iommuPt: flags.iommuPt }, claims.stale, snapshot));
  const changes = plan.edits.length + plan.commands.length;

  if (!opts.json) {
    const text = planText(plan);
    if (text) out(text);
  }
  let apply = false;
  let declined = '';
  if (changes > 0 && !flags.dryRun) {
    if (flags.yes) apply = true;
    else if (opts.json) declined = 'not applied: pass --yes';
    else {
      const answer = await confirm('Apply these changes? [y/N] ');
      if (answer === true) apply = true;
      else declined = answer === null ? 'not applied: no terminal to confirm on, pass --yes' : 'not applied';
    }
  }

  const outcome: SetupOutcome = { writes: null, commands: null };
  if (apply) {
    const writes: WriteResult[] = [];
    for (const edit of plan.edits) writes.push(await writeEdit(opts.root, edit));
    const commands: CommandResult[] = [];
    // A file that could not be written leaves the boot loader's entries as they were.
    if (writes.every((w) => !w.error)) {
      // The initramfs-tools hook copies the claims file into the image: make it current first.
      if (claims.claimsText !== null) await writeClaimsFile(opts.root, claims.claimsText);
      for (const command of plan.commands) {
        const print = opts.json ? err : out;
        commands.push(await runCommand(opts.root, command, (line) => print(`  ${line}`), (argv) => print(`Running ${argv.join(' ')}`)));
      }
    }
    outcome.writes = writes;
    outcome.commands = commands;
  }

  const status = setupStatus(plan, outcome);
  if (opts.json) {
    out(JSON.stringify(setupJson(plan, outcome), null, 2));
  } else {
    if (changes === 0) out(plan.refused.length || plan.firmware.length ? 'Nothing that setup can change.' : 'Nothing to change: the boot configuration is already prepared.');
    else if (flags.dryRun) out('Dry run: nothing was changed. Apply with: pcie-passthroughctl setup --yes');
    else if (declined) out(declined.charAt(0).toUpperCase() + declined.slice(1) + '.');
    const done = outcomeText(outcome);
    if (done) out(done);
    const reboot = rebootLine(plan, outcome);
    if (reboot) out(reboot);
  }
  if (status === 'incomplete') return EXIT.failure;
  if (status === 'pending') return EXIT.warning;
  return EXIT.ok;
}
