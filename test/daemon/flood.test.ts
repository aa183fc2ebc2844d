/**
 * Issue 11, item 1: a Plan() flood from many connections as nobody. The calls share observations,
 * root's reads are answered while the flood runs, and the daemon carries on. (Latency and RSS figures:
 * `npm run bench`, which floods a 4,096-function host; nothing here asserts a duration.)
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { busctl } from '../dbus/clients.js';
import { buildLargeHost } from '../fake/large.js';
import { type RunningDaemon } from '../helpers/daemon.js';
import { useDaemonFixture } from '../helpers/daemon-fixture.js';

const FLOOD = join(process.cwd(), 'test/helpers/plan-flood.cjs');

const fx = useDaemonFixture({ build: (dir) => buildLargeHost(dir, 1024) });

interface FloodResult {
  answered: number;
  refused: Record<string, number>;
}

function flood(connections: number, perConnection: number, hangup = false): { done: Promise<FloodResult>; finished: () => boolean } {
  const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, FLOOD, fx.bus.address, String(connections), String(perConnection), ...(hangup ? ['--hangup'] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let finished = false;
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<FloodResult>((resolve, reject) => child.once('exit', (code) => {
    finished = true;
    if (code === 0) resolve(JSON.parse(out) as FloodResult);
    else reject(new Error(`flood exited ${code}: ${err}`));
  }));
  return { done, finished: () => finished };
}

const observations = (d: RunningDaemon): number => d.logs.filter((l) => l.msg.startsWith('plan: observing')).length;

it('300 concurrent Plan() calls as nobody share a few observations; root reads State while they run', async () => {
  const daemon = await fx.started([], 60_000);
  const f = flood(150, 2);
  // Root's reads go on during the flood: wait until the daemon is computing for it, then ask.
  await daemon.waitForLog((l) => l.msg.startsWith('plan: observing'), 60_000);
  const get = await busctl(fx.bus.address, ['get-property', 'org.pciepassthroughd', '/org/pciepassthroughd', 'org.pciepassthroughd.Manager1', 'State']);
  expect(get.exitCode, get.stderr).toBe(0);
  expect(get.stdout.trim()).toBe('s "ready"');
  expect(f.finished()).toBe(false);
  const result = await f.done;
  expect(result.answered).toBe(300);
  expect(result.refused).toEqual({});
  // Unshared, this would be 300 full scans.
  expect(observations(daemon)).toBeLessThan(10);
}, 120_000);

it('calls from callers that hung up at once cost (nearly) no observations', async () => {
  const daemon = await fx.started([], 60_000);
  await flood(100, 4, true).done;
  // The daemon is still answering, and answering everyone.
  const get = await busctl(fx.bus.address, ['--json=short', 'call', 'org.pciepassthroughd', '/org/pciepassthroughd', 'org.pciepassthroughd.Manager1', 'Plan'], { asNobody: true });
  expect(get.exitCode, get.stderr).toBe(0);
  expect(observations(daemon)).toBeLessThan(5);
}, 120_000);
