import type { Logger } from 'pino';
import { readOwned, withEarlyClaims, writeOwned } from '../apply/owned.js';
import { readClaimRecords } from '../claim/files.js';
import type { ApplyTimeouts, BindingPort } from '../apply/apply.js';
import { formatConfigError, type ConfigError } from '../config/errors.js';
import { loadConfig } from '../config/load.js';
import type { BusService, PlanRow } from '../dbus/types.js';
import { assess, observe } from '../engine.js';
import { DEFAULT_DAEMON_SETTINGS, isProblemState, type Address, type Config, type OwnedState, type Snapshot, type Verdict } from '../model.js';
import type { LockedReader } from '../sysfs/bounded-read.js';
import { healthTable, newFindings, type HealthTable } from '../health/report.js';
import { waitingDevices, withHolders } from '../health/waiting.js';
import { deviceFiles, describeHolders, findHolders } from '../sysfs/holders.js';
import { describeAction } from '../plan/describe.js';
import { reconcileOnce, type Reconciled } from '../reconcile.js';
import { publishedState, statusLine, verdictChanges, type DaemonView } from './publish.js';
import { ReconcileQueue } from './queue.js';
import { SharedResult } from './shared-result.js';
import { describeHolder, withStateLock } from '../apply/state-lock.js';
import { confirmsConfig, describeTrigger, rereadsConfig, retriesStuck, type Trigger } from './triggers.js';

/** What a hook run after each reconcile gets (plain data; hooks must not change it). */
export interface AfterReconcile {
  result: Reconciled;
  view: DaemonView;
  triggers: readonly Trigger[];
}

/** How long a Plan() result is served to later callers (they share one observation meanwhile). */
export const PLAN_MAX_AGE_MS = 1000;
import { EarlyClaimKeeper } from '../claim/keeper.js';
import type { ClaimAssessment } from '../claim/assess.js';

export interface DaemonOptions {
  root: string;
  configPath: string;
  version: string;
  log: Logger;
  port: BindingPort;
  timeouts?: ApplyTimeouts;
  /** Side effects the daemon announces; main.ts wires sd_notify and D-Bus here. */
  notify: (fields: { ready?: boolean; status?: string; stopping?: boolean }) => Promise<unknown>;
  /** Called after a config loaded successfully (main.ts re-arms the periodic check when its schedule changed). */
  onConfigLoaded?: (config: Config) => void;
  /**
   * Run in order after every reconcile, once its result is published (claim data, the metrics
   * textfile, …). A hook that throws or rejects is logged and does not stop the next one.
   */
  afterReconcile?: ((ctx: AfterReconcile) => void | Promise<void>)[];
  /** Called when a reconcile threw (after it is logged): the metrics count it as failed. */
  onReconcileError?: (err: unknown) => void;
  /** Bounded, off-thread reads of attributes that take the device lock (main.ts); in-thread when absent. */
  lockedReader?: LockedReader;
}

/**
 * The reconciler: holds the last good config, what we own, and the last result; runs one reconcile at a
 * time through the queue and publishes after each. Triggers carry no data the decisions rely on.
 */
export class Daemon {
  readonly queue: ReconcileQueue<Trigger>;
  private config: Config;
  private configErrors: ConfigError[] = [];
  private hasGoodConfig = false;
  private owned: OwnedState = { devices: {} };
  /** The last write of state.json failed: what we own is only in memory. */
  private unsaved = false;
  /** Devices whose unbind hung, with the driver they were on: not retried until that changes or on demand. */
  private stuck = new Map<Address, { reason: string; driver: string | null }>();
  /**
   * Target drivers whose modprobe failed, with why: not tried again (and not reported again) on every
   * uevent or timer tick, only once something changed — the driver appeared, the config was re-read,
   * or root asked (Reload, Reconcile).
   */
  private unloadable = new Map<string, string>();
  private last: Reconciled | null = null;
  private lastReconcileUs = 0n;
  private lastRows: PlanRow[] = [];
  /** Health checks of the last run: a finding is logged when it appears, not at every reconcile. */
  private lastHealth: HealthTable = new Map();
  /** Who held each waiting device at the last run, as logged (a new holder set is logged once). */
  private lastHolders = new Map<Address, string>();
  private bus: BusService | null = null;
  private started = false;
  /** Concurrent Plan() callers share one observation; a result younger than PLAN_MAX_AGE_MS is reused. */
  private readonly plans = new SharedResult(() => this.computePlanRows(), PLAN_MAX_AGE_MS);
  private readonly claims: EarlyClaimKeeper;
  private claimView: ClaimAssessment | null = null;

  constructor(private readonly o: DaemonOptions) {
    this.claims = new EarlyClaimKeeper(o.root, o.log);
    this.config = { path: o.configPath, daemon: { ...DEFAULT_DAEMON_SETTINGS }, devices: [] };
    this.queue = new ReconcileQueue<Trigger>((triggers) => this.run(triggers), {
      key: describeTrigger,
      onError: (err, triggers) => {
        this.o.log.error(`reconcile (${triggers.map(describeTrigger).join(', ')}) failed: ${(err as Error).stack ?? String(err)}`);
        this.o.onReconcileError?.(err);
      },
    });
  }

  get checkSchedule(): string {
    return this.config.daemon.checkSchedule;
  }

  attachBus(bus: BusService): void {
    this.bus = bus;
  }

  /** Reads config and state, then runs the first reconcile; returns when it is done. */
  async start(): Promise<void> {
    const owned = await readOwned(this.o.root);
    if (owned.problem) this.o.log.warn(owned.problem);
    this.owned = owned.state;
    await this.reloadConfig([{ kind: 'start' }]);
    this.queue.trigger({ kind: 'start' });
    await this.queue.idle();
    this.started = true;
  }

  /**
   * Re-reads the config file; a bad one keeps the last good one in force and is reported. So does one
   * that vanished or became empty while we ran (a delete-and-recreate, a truncate-then-write, a dangling
   * symlink mid-deploy would otherwise release every device at once): it is accepted only when the
   * admin confirms with a reload (SIGHUP, Reload()), or once a file is back.
   */
  private async reloadConfig(triggers: readonly Trigger[]): Promise<void> {
    const loaded = await loadConfig(this.o.configPath, this.o.root);
    if (loaded.ok && (loaded.missing || loaded.empty) && this.hasGoodConfig && this.config.devices.length > 0 && !confirmsConfig(triggers)) {
      const what = loaded.missing ? 'is gone' : 'is empty';
      const n = this.config.devices.length;
      const message = `${what}: keeping the last good config (${n} device entr${n === 1 ? 'y' : 'ies'}) in force until the file is back; ` +
        'to release those devices on purpose, run `systemctl reload pcie-passthroughd` (or pcie-passthroughctl reload)';
      const problem: ConfigError = { file: this.o.configPath, line: 0, column: 0, message };
      if (this.configErrors.length !== 1 || this.configErrors[0]?.message !== message) this.o.log.warn(formatConfigError(problem));
      this.configErrors = [problem];
      return;
    }
    if (loaded.ok) {
      const was = this.configErrors.length > 0;
      this.config = loaded.config;
      this.configErrors = [];
      this.hasGoodConfig = true;
      this.o.onConfigLoaded?.(loaded.config);
      const n = loaded.config.devices.length;
      this.o.log.info(loaded.missing
        ? `${this.o.configPath} does not exist: no devices configured`
        : `${was ? 'config fixed: ' : ''}loaded ${this.o.configPath} (${n} device entr${n === 1 ? 'y' : 'ies'})`);
      return;
    }
    this.configErrors = loaded.errors;
    for (const e of loaded.errors) this.o.log.error(`${formatConfigError(e)}`);
    this.o.log.error(this.hasGoodConfig
      ? `${this.o.configPath} is invalid: keeping the last good config in force; nothing changes until it is fixed`
      : `${this.o.configPath} is invalid and no earlier config was loaded: binding nothing until it is fixed`);
  }

  /** One observation; device-lock attributes read bounded and off the main thread when a reader is set. */
  private look(): Promise<Snapshot> {
    const devices = new Map((this.last?.snapshot.devices ?? []).map((d) => [d.address, d]));
    return observe(this.o.root, { locked: this.o.lockedReader, lastKnown: (a) => devices.get(a) });
  }

  private stuckRecord(): Record<Address, string> {
    const out: Record<Address, string> = {};
    // Devices waiting for a driver that could not be loaded: failed with that reason, no modprobe again.
    for (const v of this.last?.verdicts ?? []) {
      const why = v.managed && v.targetDriver !== null ? this.unloadable.get(v.targetDriver) : undefined;
      // Keep the reason already published, so nothing is logged again while nothing changed.
      if (why !== undefined && v.state !== 'bound') out[v.address] = v.state === 'failed' ? v.reason : `not bound: ${why}`;
    }
    for (const [a, s] of this.stuck) out[a] = s.reason;
    return out;
  }

  private async run(triggers: Trigger[]): Promise<void> {
    this.o.log.debug(`reconcile: ${triggers.map(describeTrigger).join(', ')}`);
    if (rereadsConfig(triggers)) await this.reloadConfig(triggers);
    if (retriesStuck(triggers)) this.stuck.clear();
    if (retriesStuck(triggers) || rereadsConfig(triggers)) this.unloadable.clear();
    const previous = this.last?.verdicts ?? [];

    let result: Reconciled;
    if (!this.hasGoodConfig) {
      // Nothing in force: observe and publish, act on nothing.
      const snapshot = await this.look();
      const assessment = assess({ ...this.config, devices: [] }, snapshot, { devices: {} });
      result = { snapshot, assessment, results: [], verdicts: assessment.plan.verdicts, owned: this.owned };
    } else {
      // One writer at a time: a direct `pcie-passthroughctl apply` takes the same lock (src/apply/state-lock.ts).
      result = await withStateLock(this.o.root, 'pcie-passthroughd', () => this.actLocked(), {
        onWait: (holder) => this.o.log.info(`waiting for ${describeHolder(holder)} to finish acting on the devices`),
      });
    }

    for (const r of result.results) {
      if (r.outcome === 'failed' || r.outcome === 'vanished') this.o.log.warn(r.message);
      else this.o.log.info(r.message);
      if (r.action.kind === 'load-driver' && r.outcome === 'failed') this.unloadable.set(r.action.driver, r.message);
      if (r.stuck && 'address' in r.action) {
        const d = result.snapshot.devices.find((x) => x.address === (r.action as { address: string }).address);
        this.stuck.set(r.action.address, { reason: r.message, driver: d?.driver ?? null });
      }
    }
    // A device whose lock is held (its unbind hangs) is failed with why, and not acted on, until it is free.
    for (const [address, why] of Object.entries(result.snapshot.unreadable ?? {})) {
      if (!this.stuck.has(address)) {
        const d = result.snapshot.devices.find((x) => x.address === address);
        this.stuck.set(address, { reason: `${address}: ${why}`, driver: d?.driver ?? null });
        this.o.log.warn(`${address}: ${why}`);
      }
    }
    for (const p of result.assessment.importProblems) this.o.log.warn(`ignoring a modprobe.d entry: ${formatConfigError(p)}`);
    result = { ...result, verdicts: this.explainWaits(result) };
    this.logChanges(previous, result.verdicts, new Set(result.results.map((r) => ('address' in r.action ? r.action.address : ''))));
    const health = healthTable(result.snapshot, result.verdicts);
    for (const { address, check } of newFindings(this.lastHealth, health)) {
      // A dead device's config-space failure is already its verdict line (state `dead`).
      if (check.name !== 'config-space') this.o.log.warn(`${address}: ${check.name}: ${check.message}`);
    }
    this.lastHealth = health;

    this.last = result;
    this.lastReconcileUs = BigInt(Date.now()) * 1000n;
    this.lastRows = result.results.map((r) => ['address' in r.action ? r.action.address : '', r.outcome, r.message]);
    this.plans.invalidate();
    const view = this.view();
    this.bus?.update(publishedState(view));
    this.bus?.emitReconciled(result.results.length, publishedState(view).manager.State);
    await this.o.notify({ status: statusLine(view) });
    // Early claims follow every reconcile (config change included): the claims file, claim status, initramfs
    // advice; published right after (the bindings' own state is out first).
    this.claimView = await this.claims.update({
      config: this.config, snapshot: result.snapshot, verdicts: result.verdicts, report: result.assessment.report, owned: result.owned, hasGoodConfig: this.hasGoodConfig,
    });
    this.bus?.update(publishedState(this.view()));
    await this.afterReconcile({ result, view, triggers });
  }

  /** The one place that runs after a reconcile is published: hooks from DaemonOptions.afterReconcile. */
  private async afterReconcile(ctx: AfterReconcile): Promise<void> {
    for (const hook of this.o.afterReconcile ?? []) {
      try {
        await hook(ctx);
      } catch (e) {
        this.o.log.error(`after reconcile: ${(e as Error).message ?? String(e)}`);
      }
    }
  }

  /**
   * Names the processes holding devices that wait (unbind hung, release held by a VM): one walk over
   * /proc, only when some device waits; a changed holder set is logged once.
   */
  private explainWaits(result: Reconciled): Verdict[] {
    const waiting = waitingDevices(result.snapshot, result.verdicts, result.owned, new Set(this.stuck.keys()));
    const holders = waiting.length === 0 ? new Map() : findHolders(this.o.root, new Map(waiting.map((d) => [d.address, deviceFiles(this.o.root, d)])));
    const now = new Map<Address, string>();
    for (const [address, list] of holders) {
      if (list.length === 0) continue;
      const text = describeHolders(list);
      now.set(address, text);
      if (this.lastHolders.get(address) !== text) this.o.log.warn(`${address}: held by ${text}`);
    }
    this.lastHolders = now;
    return withHolders(result.verdicts, holders);
  }

  /**
   * Observe → act → record, holding the state lock. state.json is read again first: a direct apply may
   * have bound (and recorded) devices since our last run, and writing our older copy would forget them.
   */
  private async actLocked(): Promise<Reconciled> {
    const disk = await readOwned(this.o.root);
    if (disk.problem) this.o.log.warn(disk.problem);
    // What we could not write last time is still ours; otherwise the file is the record.
    else this.owned = this.unsaved ? { devices: { ...disk.state.devices, ...this.owned.devices } } : disk.state;
    const observed = await this.look();
    // A device that left the driver it hung on is worth trying again.
    for (const [a, s] of this.stuck) {
      if (observed.devices.find((d) => d.address === a)?.driver !== s.driver) this.stuck.delete(a);
    }
    for (const driver of this.unloadable.keys()) if (observed.drivers.includes(driver)) this.unloadable.delete(driver);
    const drivers = new Map(observed.devices.map((d) => [d.address, d.driver]));
    this.owned = withEarlyClaims(this.owned, await readClaimRecords(this.o.root), (a) => drivers.get(a), new Date());
    const result = await reconcileOnce({
      root: this.o.root, port: this.o.port, config: this.config, owned: this.owned, stuck: this.stuckRecord(), timeouts: this.o.timeouts, observed,
      observe: () => this.look(),
    });
    if (result.owned !== this.owned || this.unsaved) {
      this.owned = result.owned;
      try {
        await writeOwned(this.o.root, this.owned);
        this.unsaved = false;
      } catch (e) {
        this.unsaved = true;
        this.o.log.error(`cannot record owned devices: ${(e as Error).message}`);
      }
    }
    return result;
  }

  /** One journal line per change of a managed device's state; problems at warning priority. */
  private logChanges(before: Verdict[], after: Verdict[], alreadyLogged: Set<string>): void {
    for (const { verdict: v, previous: p } of verdictChanges(before, after)) {
      if (alreadyLogged.has(v.address) && (v.state === 'bound' || v.state === 'failed' || v.state === 'host')) continue;
      const line = `${v.address}: ${v.state}${v.reason ? `: ${v.reason}` : ''}`;
      if (isProblemState(v.state)) this.o.log.warn(line);
      else if (v.state !== 'host' || p?.managed) this.o.log.info(line);
    }
  }

  view(): DaemonView {
    return {
      version: this.o.version,
      configPath: this.o.configPath,
      configErrors: this.configErrors,
      report: this.last?.assessment.report ?? null,
      snapshot: this.last?.snapshot ?? null,
      verdicts: this.last?.verdicts ?? [],
      requireIommu: this.config.daemon.requireIommu,
      lastReconcileUs: this.lastReconcileUs,
      claims: this.claimView,
    };
  }

  get isStarted(): boolean {
    return this.started;
  }

  /**
   * D-Bus Plan(): what a reconcile would do now, nothing written. Concurrent callers share one
   * observation, and a result younger than PLAN_MAX_AGE_MS (and not older than the last reconcile) is
   * served again, so a flood of calls costs one scan per second at most.
   */
  planRows(): Promise<PlanRow[]> {
    return this.plans.get();
  }

  /** How many Plan() observations were actually made (the rest were shared). */
  get planComputations(): number {
    return this.plans.computations;
  }

  private async computePlanRows(): Promise<PlanRow[]> {
    this.o.log.debug('plan: observing (every Plan() call waiting now shares this)');
    const snapshot = await this.look();
    const config = this.hasGoodConfig ? this.config : { ...this.config, devices: [] };
    const { plan } = assess(config, snapshot, this.owned, this.stuckRecord());
    const rows: PlanRow[] = plan.actions.map((a) => ['address' in a ? a.address : '', a.kind, describeAction(a)]);
    for (const v of plan.verdicts) {
      if (v.managed && isProblemState(v.state)) rows.push([v.address, v.state, `${v.address}: ${v.reason}`]);
    }
    return rows;
  }

  /** D-Bus Reconcile(): run now (after anything queued) and return what this run did. */
  async reconcileNow(): Promise<PlanRow[]> {
    this.queue.trigger({ kind: 'dbus-reconcile' });
    await this.queue.idle();
    return this.lastRows;
  }

  async reloadNow(): Promise<void> {
    this.queue.trigger({ kind: 'reload' });
    await this.queue.idle();
  }

  hasConfigErrors(): string | null {
    return this.configErrors.length ? this.configErrors.map(formatConfigError).join('\n') : null;
  }
}
