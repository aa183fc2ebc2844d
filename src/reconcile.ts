import { applyActions, type ActionResult, type ApplyTimeouts, type BindingPort } from './apply/apply.js';
import { updateOwned } from './apply/owned.js';
import { assess, observe, type Assessment } from './engine.js';
import type { Address, Config, OwnedState, Snapshot, Verdict } from './model.js';

export interface Reconciled {
  /** The state after acting (re-observed), and what was decided on it. */
  snapshot: Snapshot;
  assessment: Assessment;
  /** What was done this run (empty when nothing needed doing). */
  results: ActionResult[];
  /** Final per-device verdicts: the re-planned ones, with this run's failures laid over them. */
  verdicts: Verdict[];
  owned: OwnedState;
}

/** Pure: a device whose action failed this run is `failed` with the kernel's reason, not `pending`. */
export function overlayFailures(verdicts: Verdict[], results: ActionResult[]): Verdict[] {
  const failed = new Map<Address, string>();
  for (const r of results) {
    if (r.outcome === 'failed' && 'address' in r.action) failed.set(r.action.address, r.message);
  }
  return verdicts.map((v) => {
    const why = failed.get(v.address);
    return why && v.state !== 'bound' ? { ...v, state: 'failed', reason: why } : v;
  });
}

/** Observe → plan → act → re-observe. Idempotent: with nothing to do it writes nothing. */
export async function reconcileOnce(opts: {
  root: string;
  port: BindingPort;
  config: Config;
  owned: OwnedState;
  stuck?: Record<Address, string>;
  timeouts?: ApplyTimeouts;
  now?: () => Date;
  /** A snapshot the caller just took (saves a second scan); observed here when absent. */
  observed?: Snapshot;
  /** How to observe (the daemon's reads are bounded); default observe(root). */
  observe?: () => Promise<Snapshot>;
}): Promise<Reconciled> {
  const look = opts.observe ?? (() => observe(opts.root));
  const before = opts.observed ?? (await look());
  const first = assess(opts.config, before, opts.owned, opts.stuck);
  if (first.plan.actions.length === 0) {
    return { snapshot: before, assessment: first, results: [], verdicts: first.plan.verdicts, owned: opts.owned };
  }
  const results = await applyActions(opts.port, first.plan.actions, opts.timeouts);
  const owned = updateOwned(opts.owned, results, (opts.now ?? (() => new Date()))());
  const after = await look();
  const stuck = { ...opts.stuck };
  for (const r of results) if (r.stuck && 'address' in r.action) stuck[r.action.address] = r.message;
  const second = assess(opts.config, after, owned, stuck);
  return { snapshot: after, assessment: second, results, verdicts: overlayFailures(second.plan.verdicts, results), owned };
}
