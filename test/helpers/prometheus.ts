/**
 * Debian's own Prometheus tools (package prometheus: promtool; prometheus-node-exporter), installed by
 * scripts/install-test-deps.sh. Tests run the real programs; they fail, not skip, when one is missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export const PROMTOOL = process.env.PPD_PROMTOOL || 'promtool';
export const NODE_EXPORTER = process.env.PPD_NODE_EXPORTER || 'prometheus-node-exporter';

/** `promtool check metrics` over `text` (stdin): exit code and its complaints. */
export function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

/** A loopback TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface NodeExporter {
  child: ChildProcess;
  url: string;
  /** GET /metrics, retried until the exporter listens (or `ms` passed). */
  scrape(ms?: number): Promise<string>;
  stop(): Promise<void>;
}

/** node_exporter with only the textfile collector, on 127.0.0.1. */
export async function startNodeExporter(textfileDir: string): Promise<NodeExporter> {
  const port = await freePort();
  const child = spawn(NODE_EXPORTER, [
    '--collector.disable-defaults', '--collector.textfile', `--collector.textfile.directory=${textfileDir}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  await spawned;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}/metrics`;
  return {
    child,
    url,
    async scrape(ms = 10_000) {
      const end = Date.now() + ms;
      for (;;) {
        try {
          const res = await fetch(url);
          return await res.text();
        } catch (e) {
          if (Date.now() > end || child.exitCode !== null) throw new Error(`node_exporter did not answer on ${url}: ${(e as Error).message}\n${stderr}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: string;
}

/** Sample lines of exposition text (label order does not matter: node_exporter sorts them). */
export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] ?? ''] = (l[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1] ?? '', labels, value: m[3] ?? '' });
  }
  return out;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when there is none. */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): string | undefined {
  return parseSamples(text).find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}
