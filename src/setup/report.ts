/** Human and JSON renderings of a setup plan and of what applying it did. */
import type { CommandResult, WriteResult } from './apply.js';
import type { SetupPlan } from './types.js';

export type SetupStatus = 'nothing-to-do' | 'pending' | 'applied' | 'incomplete';

export interface SetupOutcome {
  /** null when nothing was applied (dry run, declined, nothing to do). */
  writes: WriteResult[] | null;
  commands: CommandResult[] | null;
}

export function setupStatus(plan: SetupPlan, outcome: SetupOutcome): SetupStatus {
  const failed = (outcome.writes ?? []).some((w) => w.error) || (outcome.commands ?? []).some((c) => c.outcome === 'failed');
  if (failed || plan.refused.length > 0 || plan.firmware.length > 0) return 'incomplete';
  if (plan.edits.length === 0 && plan.commands.length === 0) return 'nothing-to-do';
  return outcome.writes ? 'applied' : 'pending';
}

const shell = (argv: string[]): string => argv.join(' ');

/** The plan: per file the reasons and the unified diff, then the commands, the manual and firmware steps. */
export function planText(plan: SetupPlan): string {
  const parts: string[] = [];
  for (const edit of plan.edits) {
    parts.push(`${edit.path}${edit.before === null ? ' (new file)' : ''}:\n${edit.why.map((w) => `  ${w}\n`).join('')}${edit.diff}`);
  }
  if (plan.commands.length) {
    parts.push(`Then run:\n${plan.commands.map((c) => `  ${shell(c.argv)}    # ${c.why}\n`).join('')}`);
  }
  if (plan.refused.length) {
    parts.push(`Not changed, do it by hand:\n${plan.refused.map((r) => `  ${r.problem}: ${r.byHand}\n`).join('')}`);
  }
  if (plan.firmware.length) {
    parts.push(`Firmware settings (pcie-passthroughctl cannot change these):\n${plan.firmware.map((f) => `  ${f.problem}. Fix: ${f.setting}\n`).join('')}`);
  }
  return parts.join('\n').replace(/\n$/, '');
}

export function outcomeText(outcome: SetupOutcome): string {
  const lines: string[] = [];
  for (const w of outcome.writes ?? []) {
    lines.push(w.error ? `Could not write ${w.path}: ${w.error}` : `Wrote ${w.path}${w.backup ? ` (backup: ${w.backup})` : ''}`);
  }
  for (const c of outcome.commands ?? []) {
    lines.push(c.outcome === 'ran' ? `Ran ${shell(c.argv)}` : c.outcome === 'failed' ? `Failed: ${shell(c.argv)} (${c.detail})` : `${shell(c.argv)}: ${c.detail}`);
  }
  return lines.join('\n');
}

/** What the next boot brings: the effect of each file written (or still pending from an earlier run). */
export function rebootLine(plan: SetupPlan, outcome: SetupOutcome): string | null {
  const written = new Set((outcome.writes ?? []).filter((w) => !w.error).map((w) => w.path));
  const ran = plan.commands.filter((c, i) => c.effect !== null && outcome.commands?.[i]?.outcome === 'ran').map((c) => c.effect as string);
  const effects = [...plan.edits.filter((e) => written.has(e.path)).map((e) => e.effect), ...ran, ...plan.rebootPending];
  return effects.length ? `reboot to apply: ${[...new Set(effects)].join('; ')}` : null;
}

export function setupJson(plan: SetupPlan, outcome: SetupOutcome): unknown {
  const writes = new Map((outcome.writes ?? []).map((w) => [w.path, w]));
  return {
    status: setupStatus(plan, outcome),
    edits: plan.edits.map((e) => ({
      path: e.path,
      created: e.before === null,
      why: e.why,
      diff: e.diff,
      written: writes.has(e.path) && !writes.get(e.path)?.error,
      backup: writes.get(e.path)?.backup ?? null,
      error: writes.get(e.path)?.error ?? null,
    })),
    commands: plan.commands.map((c, i) => {
      const result = outcome.commands?.[i];
      return { argv: c.argv, why: c.why, outcome: result?.outcome ?? 'planned', detail: result?.detail ?? null };
    }),
    refused: plan.refused,
    firmware: plan.firmware,
    reboot: rebootLine(plan, outcome)?.replace(/^reboot to apply: /, '').split('; ') ?? [],
  };
}
