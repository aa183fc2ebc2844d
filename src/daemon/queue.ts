/**
 * One reconcile at a time. Triggers that arrive while a run is in progress are coalesced into a
 * single follow-up run that receives every distinct reason, so a burst of uevents (our own
 * unbind/bind writes produce several) costs one extra reconcile, not one per event.
 * Reconcile is level-triggered: reasons are for logs only, never for decisions.
 */
export type RunReconcile<R = string> = (reasons: R[]) => Promise<void>;

export interface ReconcileQueueOptions<R = string> {
  /** Called when a run throws or rejects; the queue carries on with the next trigger. */
  onError?: (error: unknown, reasons: R[]) => void;
  /** Identity of a reason: two reasons with the same key are one (default: String). */
  key?: (reason: R) => string;
}

export class ReconcileQueue<R = string> {
  private pending: R[] = [];
  private current: Promise<void> | null = null;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  private readonly onError: (error: unknown, reasons: R[]) => void;
  private readonly key: (reason: R) => string;

  constructor(
    private readonly run: RunReconcile<R>,
    options: ReconcileQueueOptions<R> = {},
  ) {
    this.onError =
      options.onError ??
      ((error, reasons) => console.error(`reconcile failed (${reasons.map(String).join(', ')}):`, error));
    this.key = options.key ?? String;
  }

  /** True while a run is in progress. */
  get busy(): boolean {
    return this.current !== null;
  }

  /**
   * Asks for a reconcile. Synchronous triggers in the same tick, and triggers during a run, are
   * merged into one run. Ignored after stop().
   */
  trigger(reason: R): void {
    if (this.stopped) return;
    const key = this.key(reason);
    if (!this.pending.some((p) => this.key(p) === key)) this.pending.push(reason);
    if (this.current === null) this.current = this.drain();
  }

  /** Resolves once no run is in progress and nothing is pending. */
  idle(): Promise<void> {
    if (this.current === null) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops pending triggers, refuses new ones and waits for the run in progress (if any). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pending = [];
    await this.idle();
  }

  private async drain(): Promise<void> {
    // Let the rest of the current tick add its triggers to this first run.
    await Promise.resolve();
    while (this.pending.length > 0 && !this.stopped) {
      const reasons = this.pending;
      this.pending = [];
      try {
        await this.run(reasons);
      } catch (error) {
        try {
          this.onError(error, reasons);
        } catch {
          // A failing error handler must not wedge the queue either.
        }
      }
    }
    this.current = null;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
