import type { Action, Address } from '../model.js';

/** The kernel operations apply needs; src/sysfs/writer.ts implements them over a root. */
export interface BindingPort {
  currentDriver(address: Address): Promise<string | null | 'missing'>;
  setOverride(address: Address, driver: string): Promise<void>;
  clearOverride(address: Address): Promise<void>;
  unbind(address: Address, fromDriver: string, timeoutMs: number): Promise<void>;
  probe(address: Address, timeoutMs: number): Promise<void>;
  waitForDriver(address: Address, accept: (driver: string | null) => boolean, timeoutMs: number): Promise<string | null | 'missing'>;
  driverRegistered(driver: string): Promise<boolean>;
  loadModule(driver: string, timeoutMs: number): Promise<void>;
  /** Writes the methods, space-separated, to DEV/reset_method ("" disables resets). */
  setResetMethod(address: Address, methods: string[]): Promise<void>;
}

export interface ApplyTimeouts {
  /** An unbind can block forever while a host driver is busy (NVIDIA): give up after this. */
  unbindMs: number;
  probeMs: number;
  /** Bounded read-back: drivers_probe reports success even when nothing bound. */
  readBackMs: number;
  modprobeMs: number;
}

export const DEFAULT_TIMEOUTS: ApplyTimeouts = { unbindMs: 10_000, probeMs: 10_000, readBackMs: 3_000, modprobeMs: 30_000 };

export type Outcome = 'bound' | 'released' | 'override-set' | 'driver-loaded' | 'reset-method-set' | 'failed' | 'vanished';

export interface ActionResult {
  action: Action;
  outcome: Outcome;
  /** One sentence, device address first, for the journal and for Reconcile(). */
  message: string;
  /** Errno name of the failing write, when a write failed. */
  errno: string | null;
  /** True when the failure must not be retried automatically (an unbind that hung). */
  stuck: boolean;
  /** Driver the device had before (bind) — recorded so a release can say where it went. */
  previousDriver: string | null;
  /**
   * A failed bind whose driver_override could not be rolled back: the device is recorded as ours so
   * that dropping it from the config clears the override (else the host driver stays locked out).
   */
  overrideLeft?: boolean;
}

function errnoOf(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'EIO';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

class StepError extends Error {
  constructor(readonly outcome: Outcome, message: string, readonly errno: string | null, readonly stuck = false, readonly overrideLeft = false) {
    super(message);
  }
}

/** Runs one write; an ENOENT/ENODEV on a device path means the device went away under us. */
async function step(address: Address, what: string, write: () => Promise<void>): Promise<void> {
  try {
    await write();
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === 'ETIMEDOUT') throw new StepError('failed', `${address}: ${what} hung: ${messageOf(err)}`, errno, true);
    if (errno === 'ENOENT' || errno === 'ENODEV') {
      throw new StepError('vanished', `${address}: device vanished during ${what} (${errno})`, errno);
    }
    throw new StepError('failed', `${address}: ${what} failed with ${errno}: ${messageOf(err)}`, errno);
  }
}

async function bind(port: BindingPort, a: Extract<Action, { kind: 'bind' }>, t: ApplyTimeouts): Promise<ActionResult> {
  const { address, driver } = a;
  // Override first: from then on only `driver` can claim the device, so no probe hands it back to the host driver.
  await step(address, `writing driver_override=${driver}`, () => port.setOverride(address, driver));
  try {
    return await bindWithOverride(port, a, t);
  } catch (err) {
    throw await rollBackOverride(port, a, err, t);
  }
}

/**
 * A bind that failed after driver_override was written must not leave it behind: only `driver` could
 * ever bind the device again, so the host driver is locked out until reboot. Clear it ("\n") and
 * reprobe an unbound device so its host driver takes it back.
 */
async function rollBackOverride(port: BindingPort, a: Extract<Action, { kind: 'bind' }>, err: unknown, t: ApplyTimeouts): Promise<StepError> {
  const e = err instanceof StepError ? err : new StepError('failed', messageOf(err), errnoOf(err));
  if (e.outcome === 'vanished') return e;
  const { address } = a;
  try {
    await port.clearOverride(address);
  } catch (clearErr) {
    const why = `${e.message}; clearing driver_override failed too (${errnoOf(clearErr)}): only ${a.driver} can bind it until it is cleared, so it is recorded and dropping it from the config clears it`;
    return new StepError(e.outcome, why, e.errno, e.stuck, true);
  }
  // An unbind that hung is still in progress: the host driver gets it back once it returns.
  if (!e.stuck && (await port.currentDriver(address)) === null) {
    await port.probe(address, t.probeMs).catch(() => undefined);
  }
  const now = await port.currentDriver(address);
  const where = now === 'missing' ? 'the device is gone' : now ? `now on ${now}` : 'no driver took it';
  return new StepError(e.outcome, `${e.message}; driver_override rolled back (${where})`, e.errno, e.stuck);
}

async function bindWithOverride(port: BindingPort, a: Extract<Action, { kind: 'bind' }>, t: ApplyTimeouts): Promise<ActionResult> {
  const { address, driver } = a;
  // What is bound now, not what the plan saw: a host driver's module may have loaded and claimed a
  // freshly hot-added device in between (udev autoload), or it may already be on `driver`.
  const current = await port.currentDriver(address);
  if (current === 'missing') throw new StepError('vanished', `${address}: device vanished while binding to ${driver}`, null);
  const from = current;
  if (from === driver) {
    return { action: a, outcome: 'bound', message: `${address}: bound to ${driver} (was ${a.from ?? 'unbound'})`, errno: null, stuck: false, previousDriver: a.from };
  }
  if (from) {
    try {
      await step(address, `unbind from ${from}`, () => port.unbind(address, from, t.unbindMs));
    } catch (err) {
      // ENODEV from drivers/<from>/unbind: it is no longer bound there (raced with another unbind). Go on.
      if (!(err instanceof StepError && err.outcome === 'vanished' && err.errno === 'ENODEV')) {
        if (err instanceof StepError && err.stuck) {
          throw new StepError('failed', `${address}: unbind from ${from} hung for ${t.unbindMs / 1000} s; the host driver is busy (stop what uses the device, e.g. a display server or nvidia-persistenced, then run \`pcie-passthroughctl reconcile\`)`, 'ETIMEDOUT', true);
        }
        throw err;
      }
    }
  }
  await step(address, 'drivers_probe', () => port.probe(address, t.probeMs));
  const now = await port.waitForDriver(address, (d) => d === driver, t.readBackMs);
  if (now === 'missing') throw new StepError('vanished', `${address}: device vanished while binding to ${driver}`, null);
  if (now !== driver) {
    throw new StepError('failed', `${address}: still ${now ? `on ${now}` : 'unbound'} ${t.readBackMs / 1000} s after drivers_probe; ${driver} did not take it (see the kernel log: \`journalctl -k | grep ${address}\`)`, null);
  }
  return { action: a, outcome: 'bound', message: `${address}: bound to ${driver} (was ${from ?? 'unbound'})`, errno: null, stuck: false, previousDriver: from };
}

async function release(port: BindingPort, a: Extract<Action, { kind: 'release' }>, t: ApplyTimeouts): Promise<ActionResult> {
  const { address, from } = a;
  // "\n", never "": a zero-length write never reaches the kernel and the stale override would block the host driver.
  await step(address, 'clearing driver_override', () => port.clearOverride(address));
  await step(address, `unbind from ${from}`, () => port.unbind(address, from, t.unbindMs)).catch((err: unknown) => {
    if (!(err instanceof StepError && err.errno === 'ENODEV')) throw err;
  });
  await step(address, 'drivers_probe', () => port.probe(address, t.probeMs));
  const now = await port.waitForDriver(address, (d) => d !== from, t.readBackMs);
  if (now === 'missing') throw new StepError('vanished', `${address}: device vanished while releasing it`, null);
  if (now === from) throw new StepError('failed', `${address}: still on ${from} after release`, null);
  // No driver at all is a legitimate result: the host may have no driver for it.
  const where = now ? `returned to ${now}` : 'released (no host driver took it)';
  return { action: a, outcome: 'released', message: `${address}: ${where} (was ${from})`, errno: null, stuck: false, previousDriver: from };
}

async function runOne(port: BindingPort, a: Action, t: ApplyTimeouts): Promise<ActionResult> {
  switch (a.kind) {
    case 'load-driver': {
      try {
        await port.loadModule(a.driver, t.modprobeMs);
      } catch (err) {
        // --root refuses to load into the running kernel: that message stands on its own.
        if (errnoOf(err) === 'EROOTCONFINED') throw new StepError('failed', messageOf(err), 'EROOTCONFINED');
        // Under the unit (ProtectKernelModules=yes) only ExecStartPre can load modules.
        throw new StepError('failed', `modprobe ${a.driver} failed (${messageOf(err)}); load it at boot with \`echo ${a.driver.replace(/-/g, '_')} > /etc/modules-load.d/${a.driver}.conf\`, or \`systemctl restart pcie-passthroughd\`, which loads vfio-pci before start`, errnoOf(err));
      }
      if (!(await port.driverRegistered(a.driver))) {
        throw new StepError('failed', `modprobe ${a.driver} succeeded but no PCI driver named ${a.driver} is registered`, null);
      }
      return { action: a, outcome: 'driver-loaded', message: `loaded ${a.driver}`, errno: null, stuck: false, previousDriver: null };
    }
    case 'set-override':
      await step(a.address, `writing driver_override=${a.driver}`, () => port.setOverride(a.address, a.driver));
      return { action: a, outcome: 'override-set', message: `${a.address}: driver_override set to ${a.driver} (already on it)`, errno: null, stuck: false, previousDriver: null };
    case 'bind':
      return bind(port, a, t);
    case 'release':
      return release(port, a, t);
    case 'set-reset-method': {
      const value = a.methods.join(' ');
      try {
        await step(a.address, `writing reset_method="${value}"`, () => port.setResetMethod(a.address, a.methods));
      } catch (err) {
        // reset_method_store answers EINVAL for a method the device does not support (device_specific needs vendor-reset loaded).
        if (err instanceof StepError && err.errno === 'EINVAL') {
          throw new StepError('failed', `${a.address}: the kernel refused reset_method "${value}" (EINVAL): the device does not support ${a.methods.length > 1 ? 'one of these methods' : 'this method'}${a.methods.includes('device_specific') ? '; device_specific needs vendor-reset loaded first (`modprobe vendor-reset`, and at boot: `echo vendor-reset > /etc/modules-load.d/vendor-reset.conf`)' : ''}`, 'EINVAL');
        }
        throw err;
      }
      return { action: a, outcome: 'reset-method-set', message: `${a.address}: reset_method set to "${value}"`, errno: null, stuck: false, previousDriver: null };
    }
  }
}

/**
 * Executes a plan's actions in order. Each failure is reported with its errno and the rest goes on;
 * only a driver that could not be loaded fails the binds that need it.
 */
export async function applyActions(port: BindingPort, actions: Action[], timeouts: ApplyTimeouts = DEFAULT_TIMEOUTS): Promise<ActionResult[]> {
  const results: ActionResult[] = [];
  const unavailable = new Map<string, string>();
  /** Devices whose configured reset_method could not be set: not bound this run (a VM would use it without). */
  const unresettable = new Map<Address, string>();
  for (const a of actions) {
    if (a.kind === 'bind' && unresettable.has(a.address)) {
      results.push({ action: a, outcome: 'failed', message: `${a.address}: not bound to ${a.driver}: its configured reset_method could not be set (${unresettable.get(a.address)!.slice(a.address.length + 2)})`, errno: null, stuck: false, previousDriver: null });
      continue;
    }
    if ((a.kind === 'bind' || a.kind === 'set-override') && unavailable.has(a.driver)) {
      results.push({ action: a, outcome: 'failed', message: `${a.address}: not bound: ${unavailable.get(a.driver)}`, errno: null, stuck: false, previousDriver: null });
      continue;
    }
    try {
      results.push(await runOne(port, a, timeouts));
    } catch (err) {
      const e = err instanceof StepError ? err : new StepError('failed', messageOf(err), errnoOf(err));
      if (a.kind === 'load-driver') unavailable.set(a.driver, e.message);
      if (a.kind === 'set-reset-method') unresettable.set(a.address, e.message);
      const previousDriver = a.kind === 'bind' ? a.from : null;
      results.push({ action: a, outcome: e.outcome, message: e.message, errno: e.errno, stuck: e.stuck, previousDriver, ...(e.overrideLeft ? { overrideLeft: true } : {}) });
    }
  }
  return results;
}
