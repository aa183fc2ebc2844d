import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SEED } from '../fake/hosts.js';
import { useDaemonFixture } from '../helpers/daemon-fixture.js';
import { until } from '../helpers/poll.js';

// A bind at start, so the writer helper process exists too.
const fx = useDaemonFixture({ config: `[[device]]\naddress = "${SEED.spareNic}"\n` });

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

describe('the daemon leaves no child process behind', () => {
  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`when it ends by ${signal}, its udev monitor and writer helper end with it`, async () => {
      const daemon = await fx.started();
      const pid = daemon.child.pid!;
      const children = descendants(pid);
      expect(children.map((c) => c.command).join('\n')).toMatch(/fake-udevadm\.cjs monitor/);
      expect(children.map((c) => c.command).join('\n')).toMatch(/ -e /); // the writer helper (node -e …)
      await daemon.stop(signal);
      const gone = await until(async () => children.every((c) => !alive(c.pid)), (v) => v, 5000);
      expect(gone, `still alive: ${children.filter((c) => alive(c.pid)).map((c) => `${c.pid} ${c.command}`).join('; ')}`).toBe(true);
    });
  }
});
