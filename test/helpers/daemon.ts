import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FakeHost } from '../fake/tree.js';
import { BUNDLE_NODE, DAEMON } from './run.js';

export const FAKE_UDEVADM = join(process.cwd(), 'test/helpers/fake-udevadm.cjs');

export interface LogLine {
  level: number;
  msg: string;
}

export interface RunningDaemon {
  child: ChildProcess;
  logs: LogLine[];
  /** Resolves with the first log line (seen so far or later) matching, within `ms`. */
  waitForLog(pred: (l: LogLine) => boolean, ms?: number): Promise<LogLine>;
  /** Feeds a uevent to the daemon, in udevadm's format. */
  uevent(action: string, address: string, extra?: Record<string, string>): void;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the daemon bundle on a fake host and a private bus, logging JSON at debug level. */
export function startDaemon(host: FakeHost, busAddress: string, extraArgs: string[] = []): RunningDaemon {
  const ueventsFile = join(host.root, '.fake-kernel', 'uevents');
  writeFileSync(ueventsFile, '');
  const child = spawn(BUNDLE_NODE, [
    DAEMON, '--root', host.root, '--bus', busAddress, '--udevadm', FAKE_UDEVADM, '--log-format', 'json', '--log-level', 'debug', ...extraArgs,
  ], { env: { ...process.env, ...host.env, FAKE_UEVENTS: ueventsFile }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let buf = '';
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        continue;
      }
      logs.push(parsed);
      for (const w of [...waiters]) {
        if (w.pred(parsed)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    logs,
    waitForLog(pred, ms = 15_000) {
      const seen = logs.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`log line not seen within ${ms} ms; logs:\n${logs.map((l) => l.msg).join('\n')}\nstderr:\n${stderr}`)), ms);
        waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      });
    },
    uevent(action, address, extra = {}) {
      const props = { ACTION: action, DEVPATH: `/devices/pci0000:00/${address}`, SUBSYSTEM: 'pci', PCI_SLOT_NAME: address, SEQNUM: String(Date.now()), ...extra };
      const body = Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n');
      appendFileSync(ueventsFile, `KERNEL[${(performance.now() / 1000).toFixed(6)}] ${action}      ${props.DEVPATH} (pci)\n${body}\n\n`);
    },
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
