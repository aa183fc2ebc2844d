/**
 * `npm run bench:flood`: the daemon under a Plan() flood (issue 11). Starts the daemon bundle on a fake
 * host of 4,096 PCI functions and a private bus, then floods Plan() as nobody from many connections while
 * root reads Manager1.State every 50 ms. Prints root's Get latencies, the flood's answer times and the
 * daemon's RSS (idle, peak during, after). Asserts nothing: figures for people (README).
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildLargeHost } from '../test/fake/large.js';
import { tempTreeDir } from '../test/fake/tree.js';
import { startDaemon } from '../test/helpers/daemon.js';
import { startPrivateBus } from '../test/helpers/private-bus.js';

const run = promisify(execFile);
const POLICY = join(process.cwd(), 'data/dbus/org.pciepassthroughd.conf');
const FLOOD = join(process.cwd(), 'test/helpers/plan-flood.cjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

async function scenario(devices: number, connections: number, perConnection: number): Promise<string[]> {
  const host = await buildLargeHost(tempTreeDir('bench-flood-'), devices);
  const bus = await startPrivateBus({ policyFiles: [POLICY] });
  const d = startDaemon(host, bus.address, ['--log-level', 'info']);
  try {
    await d.waitForLog((l) => l.msg === 'ready', 120_000);
    await sleep(1000);
    const pid = d.child.pid!;
    const idle = rssMiB(pid);
    let peak = idle;
    let flooding = true;
    const gets: number[] = [];
    const getter = (async () => {
      while (flooding) {
        const t = performance.now();
        await run('busctl', [`--address=${bus.address}`, 'get-property', 'org.pciepassthroughd', '/org/pciepassthroughd', 'org.pciepassthroughd.Manager1', 'State']);
        gets.push(performance.now() - t);
        peak = Math.max(peak, rssMiB(pid));
        await sleep(50);
      }
    })();
    const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, FLOOD, bus.address, String(connections), String(perConnection)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    await new Promise((r) => child.once('exit', r));
    flooding = false;
    await getter;
    await sleep(2000);
    const after = rssMiB(pid);
    const f = JSON.parse(out) as { answered: number; refused: Record<string, number>; ms: { total: number; p50: number; p99: number; max: number } };
    const refused = Object.values(f.refused).reduce((a, b) => a + b, 0);
    return [
      `${devices}`, `${connections}×${perConnection}`, `${f.answered}/${refused}`, `${f.ms.p50} / ${f.ms.max} ms`, `${f.ms.total} ms`,
      `${pct(gets, 0.5).toFixed(0)} / ${Math.max(...gets).toFixed(0)} ms (${gets.length})`, `${idle.toFixed(0)} / ${peak.toFixed(0)} / ${after.toFixed(0)} MiB`,
    ];
  } finally {
    await d.stop('SIGTERM');
    await bus.stop();
    host.cleanup();
  }
}

async function main(): Promise<void> {
  const rows = [['functions', 'Plan() calls', 'answered/refused', 'Plan() p50 / max', 'flood total', "root's Get p50 / max (n)", 'RSS idle / peak / after']];
  rows.push(await scenario(4096, 150, 2));
  rows.push(await scenario(4096, 100, 5));
  rows.push(await scenario(64, 250, 4));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(`| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`);
}

main().then(() => process.exit(0), (e: unknown) => {
  console.error(e);
  process.exit(1);
});
