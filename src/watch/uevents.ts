/**
 * PCI hotplug and driver-binding events from `udevadm monitor --kernel`, a child process parsed
 * line by line (sysfs gives no inotify events for new devices, and Node has no netlink socket).
 * `--kernel` needs no running udevd. The monitor may be missing or die (no udev package, chroot,
 * no netlink permission): that is reported with 'down' and retried with backoff, never fatal.
 *
 * Use: subscribe, wait for 'ready' (or `whenReady`) BEFORE the first sysfs scan so no event falls
 * between scan and subscription; on 'restart' (a monitor is listening again after being down)
 * rescan, since events may have been missed.
 */
import { execa, type ResultPromise } from 'execa';
import { EventEmitter } from 'node:events';
import { withParentDeathSignal } from '../lifetime.js';
import { createInterface } from 'node:readline';
import { INITIAL_PARSER_STATE, parseUeventLine, type ParserState, type Uevent } from './uevent-parse.js';

export type { Uevent } from './uevent-parse.js';
export { ueventAddress, parseUeventStream } from './uevent-parse.js';

export const DEFAULT_UEVENT_COMMAND = ['udevadm', 'monitor', '--kernel', '--property', '--subsystem-match=pci'];

export interface UeventWatcherOptions {
  /** Command printing udevadm-monitor output (tests use a stand-in). */
  command?: string[];
  /** First retry delay after the monitor died or could not start (default 1 s), doubled per failure. */
  restartDelayMs?: number;
  /** Upper bound of the retry delay (default 60 s). */
  maxRestartDelayMs?: number;
  /** A monitor that listened this long before dying resets the backoff (default 30 s). */
  stableAfterMs?: number;
}

export interface MonitorDown {
  /** Why, for the log: "udevadm not found (install the udev package)", exit code and stderr … */
  reason: string;
  /** Consecutive failures so far. */
  attempt: number;
  retryInMs: number;
}

export interface UeventWatcher {
  on(event: 'ready', listener: () => void): this;
  on(event: 'uevent', listener: (uevent: Uevent) => void): this;
  on(event: 'down', listener: (down: MonitorDown) => void): this;
  on(event: 'restart', listener: () => void): this;
  off(event: 'ready' | 'restart', listener: () => void): this;
  off(event: 'uevent', listener: (uevent: Uevent) => void): this;
  off(event: 'down', listener: (down: MonitorDown) => void): this;
  /** True while a monitor is listening. */
  readonly listening: boolean;
  /**
   * Resolves true once a monitor listens, false if the first attempt failed or `timeoutMs` passed
   * (then carry on without hotplug; 'restart' tells when it works).
   */
  whenReady(timeoutMs: number): Promise<boolean>;
  /** Ends the monitor (and any pending retry); no events after this resolves. */
  stop(): Promise<void>;
}

const STDERR_TAIL = 600;


class UdevMonitor extends EventEmitter implements UeventWatcher {
  listening = false;
  private child: ResultPromise | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private failures = 0;
  private everDown = false;
  private readonly command: string[];
  private readonly baseDelay: number;
  private readonly maxDelay: number;
  private readonly stableAfter: number;

  constructor(options: UeventWatcherOptions) {
    super();
    this.command = options.command ?? DEFAULT_UEVENT_COMMAND;
    if (this.command.length === 0) throw new Error('uevent watcher: empty command');
    this.baseDelay = options.restartDelayMs ?? 1000;
    this.maxDelay = options.maxRestartDelayMs ?? 60_000;
    this.stableAfter = options.stableAfterMs ?? 30_000;
  }

  start(): void {
    const [file, ...args] = withParentDeathSignal(this.command) as [string, ...string[]];
    const child = execa(file, args, {
      buffer: false,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      reject: false,
      cleanup: true,
      forceKillAfterDelay: 2000,
    });
    this.child = child;
    let state: ParserState = INITIAL_PARSER_STATE;
    let readyAt: number | null = null;
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL);
    });
    if (child.stdout) {
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (this.stopped || this.child !== child) return;
        const step = parseUeventLine(state, line);
        state = step.state;
        for (const out of step.output) {
          if (out.kind === 'ready') {
            readyAt = Date.now();
            this.listening = true;
            this.emit('ready');
            if (this.everDown) this.emit('restart');
          } else {
            this.emit('uevent', out.event);
          }
        }
      });
    }
    void child.then((result) => {
      if (this.child !== child) return;
      this.child = null;
      this.listening = false;
      if (this.stopped) return;
      if (readyAt !== null && Date.now() - readyAt >= this.stableAfter) this.failures = 0;
      this.failures++;
      this.everDown = true;
      const retryInMs = Math.min(this.baseDelay * 2 ** (this.failures - 1), this.maxDelay);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (!this.stopped) this.start();
      }, retryInMs);
      const down: MonitorDown = { reason: describeExit(this.command, result, stderr, readyAt !== null), attempt: this.failures, retryInMs };
      this.emit('down', down);
    });
  }

  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.listening) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (value: boolean): void => {
        clearTimeout(timer);
        this.off('ready', onReady);
        this.off('down', onDown);
        resolve(value);
      };
      const onReady = (): void => finish(true);
      const onDown = (): void => finish(false);
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.on('ready', onReady);
      this.on('down', onDown);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.listening = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const child = this.child;
    this.child = null;
    if (child) {
      child.kill('SIGTERM');
      await child;
    }
  }
}

interface ExitFacts {
  failed: boolean;
  code?: string;
  exitCode?: number;
  signal?: string;
  shortMessage?: string;
}

function describeExit(command: string[], result: ExitFacts, stderr: string, wasListening: boolean): string {
  const name = command[0] ?? 'udevadm';
  // setpriv (see withParentDeathSignal) says "failed to execute" and exits 127 when the program is missing.
  const missing = result.code === 'ENOENT' || (result.exitCode === 127 && /failed to execute|No such file/i.test(stderr));
  if (missing) return `${name} not found: install the udev package (hotplug events are not seen until then)`;
  if (result.code === 'EACCES') return `${name} is not executable`;
  const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode ?? '?'}`;
  const when = wasListening ? 'stopped listening' : 'never started listening';
  const said = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
  return `${command.join(' ')} ${when}: it ${how}${said ? ` (${said})` : ''}`;
}

export function watchUevents(options: UeventWatcherOptions = {}): UeventWatcher {
  const monitor = new UdevMonitor(options);
  monitor.start();
  return monitor;
}
