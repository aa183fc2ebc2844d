import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SEED, seedIntel } from '../fake/hosts.js';
import { buildHost, tempTreeDir, type FakeHost } from '../fake/tree.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { startPrivateBus, type PrivateBus } from '../helpers/private-bus.js';


const POLICY = join(process.cwd(), 'data/dbus/org.pciepassthroughd.conf');

let host: FakeHost;
let bus: PrivateBus;
let daemon: RunningDaemon | null = null;

/** Live descendants of `pid` (parent links from /proc/PID/stat), with their command lines. */
function descendants(pid: number): { pid: number; command: string }[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const p = Number(entry);
    if (!Number.isInteger(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'latin1');
      parentOf.set(p, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out: { pid: number; command: string }[] = [];
  const walk = (parent: number): void => {
    for (const [p, pp] of parentOf) {
      if (pp !== parent) continue;
      let command = '?';
      try {
        command = readFileSync(`/proc/${p}/cmdline`, 'latin1').split('\0').join(' ').trim();
      } catch {
        // gone
      }
      out.push({ pid: p, command });
      walk(p);
    }
  };
  walk(pid);
  return out;
}

const alive = (pid: number): boolean => {
  try {
    // A zombie still answers kill(0); its /proc/stat state says Z.
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return false;
  }
};

async function until(ok: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

beforeEach(async () => {
  host = await buildHost(tempTreeDir(), seedIntel());
  bus = await startPrivateBus({ policyFiles: [POLICY] });
  // A bind at start, so the writer helper process exists too.
  mkdirSync(join(host.root, 'etc/pcie-passthroughd'), { recursive: true });
  writeFileSync(join(host.root, 'etc/pcie-passthroughd/config.toml'), `[[device]]\naddress = "${SEED.spareNic}"\n`);
});

afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = null;
  await bus.stop();
  host.cleanup();
});

describe('the daemon leaves no child process behind', () => {
  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`when it ends by ${signal}, its udev monitor and writer helper end with it`, async () => {
      daemon = startDaemon(host, bus.address);
      await daemon.waitForLog((l) => l.msg === 'ready');
      const pid = daemon.child.pid!;
      const children = descendants(pid);
      expect(children.map((c) => c.command).join('\n')).toMatch(/fake-udevadm\.cjs monitor/);
      expect(children.map((c) => c.command).join('\n')).toMatch(/ -e /); // the writer helper (node -e …)
      await daemon.stop(signal);
      const gone = await until(() => children.every((c) => !alive(c.pid)), 5000);
      expect(gone, `still alive: ${children.filter((c) => alive(c.pid)).map((c) => `${c.pid} ${c.command}`).join('; ')}`).toBe(true);
    });
  }
});
