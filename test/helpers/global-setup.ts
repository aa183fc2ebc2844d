import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { leftoverProcesses, SUITE_MARKER } from './leftovers.js';

/**
 * End-to-end tests run the shipped bundles (dist/*.cjs): build them once per test run.
 * Every process the suite starts inherits a marker in its environment; after the run, any process
 * still carrying it (a daemon, fake udevadm, dbus-daemon, writer helper… that a test failed to end)
 * is named, ended by PID and fails the run.
 */
export default function setup(): () => void {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  const marker = `${process.pid}-${randomUUID()}`;
  process.env[SUITE_MARKER] = marker;
  return () => {
    const left = leftoverProcesses(marker, new Set([process.pid]));
    if (left.length === 0) return;
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    throw new Error(
      `${left.length} process(es) started by the test suite were still running after it (now killed); a test does not clean up:\n` +
        left.map((p) => `  pid ${p.pid} (parent ${p.ppid}): ${p.command}`).join('\n'),
    );
  };
}
