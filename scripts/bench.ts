/**
 * `npm run bench`: speed figures on fake hosts of 64, 1024 and 4096 PCI functions (SR-IOV-sized),
 * against lspci on the same trees. Prints a table; asserts nothing (targets are read by people).
 * Targets: `list --json` no slower than 1.5x `lspci -nnk`, linear growth per device.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { assess, observe } from '../src/engine.js';
import { DEFAULT_DAEMON_SETTINGS, type Config } from '../src/model.js';
import { readPci } from '../src/sysfs/read.js';
import { buildLargeHost } from '../test/fake/large.js';
import { tempTreeDir } from '../test/fake/tree.js';

const SIZES = [64, 1024, 4096];
const RUNS = 7;
const CTL = join(process.cwd(), 'dist/pcie-passthroughctl.cjs');
const DAEMON = join(process.cwd(), 'dist/pcie-passthroughd.cjs');
const NODE18 = join(process.cwd(), '.cache/node18/node18');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function timeAsync(fn: () => Promise<unknown>, runs = RUNS): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return median(out);
}

function timeSync(fn: () => unknown, runs = RUNS): number {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    out.push(performance.now() - t);
  }
  return median(out);
}

/** Wall time of a whole command, median of `runs`; fails loudly if the command fails. */
function timeCommand(cmd: string, args: string[], runs = RUNS, env: Record<string, string> = {}): number {
  return timeSync(() => {
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr?.toString() ?? r.error?.message}`);
  }, runs);
}

/** Peak RSS (KiB) of one run of a command, via GNU time when installed. */
function peakRssKiB(cmd: string, args: string[]): number | null {
  if (!existsSync('/usr/bin/time')) return null;
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const last = r.stderr.toString().trim().split('\n').pop() ?? '';
  return Number.parseInt(last, 10) || null;
}

const fmt = (ms: number): string => `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;

async function main(): Promise<void> {
  if (!existsSync(CTL)) throw new Error('run `npm run build` first (npm run bench does)');
  const hasLspci = spawnSync('lspci', ['--version']).status === 0;
  const rows: string[][] = [];
  const perSize: { n: number; list: number; lspci: number | null; snapshot: number }[] = [];
  for (const n of SIZES) {
    const host = await buildLargeHost(tempTreeDir('bench-'), n);
    try {
      const devices = (await readPci(host.root)).devices.length;
      const snapshot = await timeAsync(() => readPci(host.root));
      const observed = await observe(host.root);
      const config: Config = {
        path: '/etc/pcie-passthroughd/config.toml', daemon: { ...DEFAULT_DAEMON_SETTINGS },
        devices: [{ address: null, id: { vendor: 0x8086, device: 0x1520 }, subsystem: null, classMatch: null, functions: 'one', driver: null, allowInUse: false, source: { file: 'bench', line: 1, column: 1 }, imported: false }],
      };
      const planMs = timeSync(() => assess(config, observed, { devices: {} }));
      const list = timeCommand(process.execPath, [CTL, '--root', host.root, 'list', '--json']);
      const lspci = hasLspci ? timeCommand('lspci', ['-nnk', '-A', 'linux-sysfs', '-O', `sysfs.path=${host.root}/sys/bus/pci`]) : null;
      const rss = peakRssKiB(process.execPath, [CTL, '--root', host.root, 'list', '--json']);
      perSize.push({ n: devices, list, lspci, snapshot });
      rows.push([
        String(devices), fmt(snapshot), fmt(planMs), fmt(list), lspci === null ? 'n/a' : fmt(lspci),
        lspci === null ? 'n/a' : `${(list / lspci).toFixed(2)}x`, rss === null ? 'n/a' : `${(rss / 1024).toFixed(0)} MiB`,
      ]);
    } finally {
      host.cleanup();
    }
  }
  const header = ['devices', 'snapshot', 'plan', 'list --json', 'lspci -nnk', 'list/lspci', 'list peak RSS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));

  const first = perSize[0];
  const last = perSize[perSize.length - 1];
  if (first && last && last.n > first.n) {
    const growth = (a: number, b: number): string => `${(((b - a) / (last.n - first.n)) * 1000).toFixed(1)} µs/device`;
    console.log(`\ngrowth ${first.n}→${last.n}: snapshot ${growth(first.snapshot, last.snapshot)}, list --json ${growth(first.list, last.list)}` +
      (first.lspci !== null && last.lspci !== null ? `, lspci ${growth(first.lspci, last.lspci)}` : ''));
    const mid = perSize[1];
    if (mid) {
      const perDev = (x: { n: number; snapshot: number }): number => x.snapshot / x.n;
      console.log(`snapshot cost per device at ${mid.n} vs ${last.n}: ${(perDev(mid) * 1000).toFixed(1)} vs ${(perDev(last) * 1000).toFixed(1)} µs (linear when close)`);
    }
  }

  const nodeBare = timeCommand(process.execPath, ['-e', '0'], 11);
  const ctlVersion = timeCommand(process.execPath, [CTL, '--version'], 11);
  console.log(`\ncold start: node -e 0 ${fmt(nodeBare)}, pcie-passthroughctl --version ${fmt(ctlVersion)} (+${fmt(ctlVersion - nodeBare)})`);
}

/** Time from spawning the daemon to its "ready" line (first reconcile done), and its RSS then. */
async function daemonStart(node: string, root: string, env: Record<string, string>): Promise<{ ms: number; rssMiB: number }> {
  const t = performance.now();
  const child = spawn(node, [DAEMON, '--root', root, '--bus', 'none', '--udevadm', '/bin/true', '--log-format', 'json'], {
    env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      if (!buf.includes('"msg":"ready"')) return;
      const ms = performance.now() - t;
      // The wrapper for Debian's node runs it as a child of unshare/sh: measure the node process itself.
      const pids = spawnSync('pgrep', ['-f', `${DAEMON} --root ${root}`]).stdout.toString().trim().split('\n');
      let rss = 0;
      for (const pid of pids) {
        const status = (() => { try { return readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { return ''; } })();
        const exe = (() => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { return ''; } })();
        if (!exe.includes('node')) continue;
        rss = Math.max(rss, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0));
      }
      child.kill('SIGTERM');
      resolve({ ms, rssMiB: rss / 1024 });
    });
    child.once('exit', (code) => reject(new Error(`daemon exited ${code} before ready`)));
  });
}

async function daemonFigures(): Promise<void> {
  const { seedIntel } = await import('../test/fake/hosts.js');
  const { buildHost } = await import('../test/fake/tree.js');
  const host = await buildHost(tempTreeDir('bench-daemon-'), seedIntel());
  try {
    const nodes: [string, string][] = [[`node ${process.version}`, process.execPath]];
    if (existsSync(NODE18)) nodes.push(["Debian's node 18 (scripts/node18.sh)", NODE18]);
    for (const [label, node] of nodes) {
      const runs: { ms: number; rssMiB: number }[] = [];
      for (let i = 0; i < 3; i++) runs.push(await daemonStart(node, host.root, host.env));
      console.log(`daemon start→ready on ${label}: ${fmt(median(runs.map((r) => r.ms)))}, RSS at ready ${median(runs.map((r) => r.rssMiB)).toFixed(0)} MiB (seed host, no bus)`);
    }
  } finally {
    host.cleanup();
  }
}

main().then(daemonFigures).catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
