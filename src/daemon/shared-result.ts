/**
 * One computation shared by every concurrent caller, and its result reused while it is younger than
 * `maxAgeMs` (counted from when the computation started, i.e. the age of what it observed). D-Bus Plan()
 * is open to every local user: without this, N concurrent calls cost N full sysfs scans (issue 11).
 */
export class SharedResult<T> {
  private inflight: Promise<T> | null = null;
  private latest: { value: T; startedAt: number } | null = null;
  private generation = 0;
  /** Computations actually started (for tests and the bench: how much sharing happened). */
  computations = 0;

  constructor(
    private readonly compute: () => Promise<T>,
    private readonly maxAgeMs = 1000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The world changed (a reconcile ran, the config was re-read): the next caller gets a fresh result. */
  invalidate(): void {
    this.generation++;
    this.latest = null;
    // Callers already waiting keep their (older) answer; new ones do not join it.
    this.inflight = null;
  }

  get(): Promise<T> {
    if (this.latest && this.now() - this.latest.startedAt < this.maxAgeMs) return Promise.resolve(this.latest.value);
    if (this.inflight) return this.inflight;
    const generation = this.generation;
    const startedAt = this.now();
    this.computations++;
    const run = this.compute().then((value) => {
      if (generation === this.generation) this.latest = { value, startedAt };
      return value;
    });
    this.inflight = run;
    const clear = () => {
      if (this.inflight === run) this.inflight = null;
    };
    run.then(clear, clear);
    return run;
  }
}
