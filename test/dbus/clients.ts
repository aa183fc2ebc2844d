/** Real D-Bus clients (busctl, gdbus) run against the private bus, as root or as nobody. */
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { BUS_NAME } from '../../src/dbus/names.js';

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

export async function run(argv: string[], opts: { asNobody?: boolean } = {}): Promise<CliResult> {
  const full = opts.asNobody ? [...NOBODY, ...argv] : argv;
  const r = await execa(full[0] as string, full.slice(1), { reject: false, timeout: 15_000, env: { SYSTEMD_COLORS: '0' } });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export function busctl(address: string, args: string[], opts: { asNobody?: boolean } = {}): Promise<CliResult> {
  return run(['busctl', `--address=${address}`, ...args], opts);
}

export function gdbusCall(address: string, path: string, method: string, args: string[] = [], opts: { asNobody?: boolean } = {}): Promise<CliResult> {
  return run(['gdbus', 'call', '--address', address, '--dest', BUS_NAME, '--object-path', path, '--method', method, ...args], opts);
}

export interface MonitoredSignal {
  path: string;
  interface: string;
  member: string;
  payload: { type: string; data: unknown[] };
}

export interface SignalMonitor {
  signals: MonitoredSignal[];
  /** Resolves with every signal seen so far once one matches. */
  waitFor(pred: (s: MonitoredSignal) => boolean): Promise<MonitoredSignal[]>;
  stop(): Promise<void>;
}

/**
 * `busctl monitor --json=short org.pciepassthroughd`; resolves once busctl says it is monitoring
 * (it prints that after BecomeMonitor succeeded, so no later signal can be missed).
 */
export async function monitorSignals(address: string): Promise<SignalMonitor> {
  const child = spawn('busctl', [`--address=${address}`, 'monitor', '--json=short', BUS_NAME], { stdio: ['ignore', 'pipe', 'pipe'] });
  const signals: MonitoredSignal[] = [];
  const waiters: { pred: (s: MonitoredSignal) => boolean; resolve: (all: MonitoredSignal[]) => void }[] = [];
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      const msg = JSON.parse(line) as MonitoredSignal & { type: string };
      if (msg.type !== 'signal') continue;
      signals.push(msg);
      for (const w of [...waiters]) {
        if (w.pred(msg)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve([...signals]);
        }
      }
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('Monitoring bus message stream')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`busctl monitor exited ${code}: ${err}`)));
  });
  return {
    signals,
    waitFor(pred) {
      const seen = signals.find(pred);
      if (seen) return Promise.resolve([...signals]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`expected signal not seen within 5 s; saw: ${JSON.stringify(signals.map((x) => x.member))}`)), 5000);
        waiters.push({ pred, resolve: (all) => (clearTimeout(timer), resolve(all)) });
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, 'SIGTERM');
        await exited;
      }
    },
  };
}
