/**
 * The only code that changes driver bindings: writes to `driver_override`, `drivers/<d>/unbind` and
 * `drivers_probe`, reads the result back, and loads driver modules. Writes that can block in the kernel
 * (unbind, probe) run in a child process that is abandoned after a timeout, so a stuck GPU driver costs
 * one orphaned child, not the daemon (Node's own fs calls share libuv's four threads).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Address } from '../model.js';
import { SYS_PCI_DEVICES, SYS_PCI_DRIVERS, SYS_PCI_DRIVERS_PROBE, under } from '../paths.js';
import { WorkerWriteError, WriteWorker } from './write-worker.js';

export interface SysfsWriter {
  /** Writes `${driver}\n` to DEV/driver_override: from then on only that driver may bind the device. */
  setOverride(address: Address, driver: string): Promise<void>;
  /** Writes "\n" (never ""): a zero-length write never reaches the kernel and would leave the override set. */
  clearOverride(address: Address): Promise<void>;
  /** Writes the address to /sys/bus/pci/drivers/<fromDriver>/unbind (ENODEV: not bound to that driver). */
  unbind(address: Address, fromDriver: string, timeoutMs: number): Promise<void>;
  /** Writes the address to /sys/bus/pci/drivers_probe (ENODEV: no such device). Success proves nothing: read back. */
  probe(address: Address, timeoutMs: number): Promise<void>;
  /** Bound driver, null when unbound, 'missing' when the device is gone. */
  currentDriver(address: Address): Promise<string | null | 'missing'>;
  /** Polls `currentDriver` until `accept` says yes, the device disappears or the time is up; returns the last value. */
  waitForDriver(address: Address, accept: (driver: string | null) => boolean, timeoutMs: number): Promise<string | null | 'missing'>;
  /** /sys/bus/pci/drivers/<driver> exists (not /sys/module, which spells vfio-pci as vfio_pci). */
  driverRegistered(driver: string): Promise<boolean>;
  /** Runs `modprobe <driver>` from PATH. */
  loadModule(driver: string, timeoutMs: number): Promise<void>;
  /** Writes the methods space-separated to DEV/reset_method; "\n" alone disables resets (EINVAL: unsupported method). */
  setResetMethod(address: Address, methods: string[]): Promise<void>;
}

const HINTS: Record<string, string> = {
  ENODEV: 'no such device, or the device is not bound to that driver',
  EBUSY: 'device or resource busy',
  EINVAL: 'the kernel or the driver refused the value',
  ENOENT: 'no such file: the device or driver is not there',
  EACCES: 'permission denied: run as root',
  EPERM: 'operation not permitted: run as root',
  EROFS: 'read-only file system: is /sys mounted read-only (container)?',
};

/** Under --root, the only module loader that may run (tests point it at the fake kernel's modprobe). */
export const ROOT_MODPROBE_ENV = 'PCIE_PASSTHROUGHD_ROOT_MODPROBE';

export class SysfsWriteError extends Error {
  /** Errno name from the kernel (ENODEV, EBUSY, EINVAL, ENOENT …), ETIMEDOUT for a hung write, EMODPROBE for a failed modprobe. */
  readonly code: string;
  readonly path: string;

  constructor(code: string, path: string, message: string) {
    super(message);
    this.name = 'SysfsWriteError';
    this.code = code;
    this.path = path;
  }
}

function describeWrite(value: string, path: string): string {
  return `write ${JSON.stringify(value)} to ${path}`;
}

function writeError(code: string, value: string, path: string): SysfsWriteError {
  const hint = HINTS[code];
  return new SysfsWriteError(code, path, `${describeWrite(value, path)} failed: ${code}${hint ? ` (${hint})` : ''}`);
}

function errnoName(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

const worker = new WriteWorker();

/**
 * Writes `value` to `path` in the helper process (src/sysfs/write-worker.ts); a write still pending
 * after `timeoutMs` gets that process killed and abandoned, and fails with ETIMEDOUT.
 */
export async function writeInChild(path: string, value: string, timeoutMs: number): Promise<void> {
  try {
    await worker.write(path, value, timeoutMs);
  } catch (err) {
    const code = err instanceof WorkerWriteError ? err.code : errnoName(err);
    if (code === 'ETIMEDOUT') {
      throw new SysfsWriteError('ETIMEDOUT', path, `${describeWrite(value, path)} hung for ${(timeoutMs / 1000).toFixed(1)}s; the driver is probably busy (stop what uses the device) — the writer process was abandoned`);
    }
    if (err instanceof WorkerWriteError && code === 'EIO' && err.message !== 'EIO') throw new SysfsWriteError('EIO', path, `${describeWrite(value, path)}: ${err.message}`);
    throw writeError(/^E[A-Z0-9]+$/.test(code) ? code : 'EIO', value, path);
  }
}

/** Ends the helper process now instead of at its idle timeout (daemon shutdown). */
export function stopWriter(): void {
  worker.stop();
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const POLL_MS = 20;

export function createSysfsWriter(root: string): SysfsWriter {
  const deviceDir = (address: Address) => under(root, join(SYS_PCI_DEVICES, address));
  const driverDir = (driver: string) => under(root, join(SYS_PCI_DRIVERS, driver));

  async function writeInProcess(path: string, value: string): Promise<void> {
    try {
      await fsp.writeFile(path, value);
    } catch (err) {
      throw writeError(errnoName(err), value, path);
    }
  }

  async function currentDriver(address: Address): Promise<string | null | 'missing'> {
    const dir = deviceDir(address);
    try {
      const target = await fsp.readlink(join(dir, 'driver'));
      return target.slice(target.lastIndexOf('/') + 1);
    } catch {
      try {
        await fsp.access(dir);
        return null;
      } catch {
        return 'missing';
      }
    }
  }

  return {
    setOverride: (address, driver) => writeInProcess(join(deviceDir(address), 'driver_override'), `${driver}\n`),
    clearOverride: (address) => writeInProcess(join(deviceDir(address), 'driver_override'), '\n'),
    setResetMethod: (address, methods) => writeInProcess(join(deviceDir(address), 'reset_method'), `${methods.join(' ')}\n`),
    unbind: (address, fromDriver, timeoutMs) => writeInChild(join(driverDir(fromDriver), 'unbind'), address, timeoutMs),
    probe: (address, timeoutMs) => writeInChild(under(root, SYS_PCI_DRIVERS_PROBE), address, timeoutMs),
    currentDriver,
    async waitForDriver(address, accept, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const driver = await currentDriver(address);
        if (driver === 'missing' || accept(driver) || Date.now() >= deadline) return driver;
        await sleep(Math.min(POLL_MS, Math.max(0, deadline - Date.now())));
      }
    },
    async driverRegistered(driver) {
      try {
        return (await fsp.stat(driverDir(driver))).isDirectory();
      } catch {
        return false;
      }
    },
    async loadModule(driver, timeoutMs) {
      const command = `modprobe ${driver}`;
      // modprobe always acts on the running kernel (-d only moves where it looks for modules), so under
      // --root it would change the host: only a loader named for the tree may run, else refuse.
      const program = root === '/' ? 'modprobe' : process.env[ROOT_MODPROBE_ENV];
      if (!program) {
        throw new SysfsWriteError(
          'EROOTCONFINED',
          command,
          `not loading ${driver} under --root ${root}: modprobe would load it into the running kernel, not into ${root}. Load it into the tree's kernel yourself (so that ${under(root, SYS_PCI_DRIVERS)}/${driver} exists), or set ${ROOT_MODPROBE_ENV} to a module loader for that tree`,
        );
      }
      // Loaded on first use: execa is the heaviest module in the bundle and most runs never modprobe.
      const { execa } = await import('execa');
      const result = await execa(program, [driver], { timeout: timeoutMs, reject: false, stdin: 'ignore' });
      if (result.exitCode === 0 && !result.failed) return;
      if (result.timedOut) throw new SysfsWriteError('ETIMEDOUT', command, `${command} did not finish within ${(timeoutMs / 1000).toFixed(1)}s`);
      const spawnCode = (result as { code?: string }).code;
      if (spawnCode === 'ENOENT') throw new SysfsWriteError('ENOENT', command, `${command}: modprobe not found on PATH (install kmod)`);
      const detail = String(result.stderr ?? '').trim() || `exit code ${result.exitCode ?? '?'}`;
      throw new SysfsWriteError('EMODPROBE', command, `${command} failed: ${detail} (is the module installed for this kernel?)`);
    },
  };
}
