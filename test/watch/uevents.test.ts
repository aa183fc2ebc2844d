import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { watchUevents, type MonitorDown, type Uevent, type UeventWatcher } from '../../src/watch/uevents.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/udevadm-monitor-pci.txt', import.meta.url));

/**
 * Stand-in for `udevadm monitor`: prints the captured output; the first run then dies with an
 * error on stderr, later runs keep listening (exec: the stand-in is the process we must kill).
 */
const STAND_IN = `#!/bin/sh
dir="$1"
n=$(cat "$dir/runs" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$dir/runs"
echo $$ > "$dir/pid.$n"
cat "$2"
if [ "$n" -eq 1 ]; then
  echo "Failed to receive device: Connection reset" >&2
  exit 1
fi
exec sleep 300
`;

let dir: string;
let watcher: UeventWatcher | null;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ppd-uevents-'));
  writeFileSync(join(dir, 'udevadm'), STAND_IN, { mode: 0o755 });
  watcher = null;
});

afterEach(async () => {
  await watcher?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function once(w: UeventWatcher, event: 'down'): Promise<MonitorDown>;
function once(w: UeventWatcher, event: 'restart' | 'ready'): Promise<void>;
function once(w: UeventWatcher, event: 'down' | 'restart' | 'ready'): Promise<unknown> {
  return new Promise((resolve) => {
    const listener = (value?: unknown): void => {
      w.off(event as 'down', listener as (d: MonitorDown) => void);
      resolve(value);
    };
    w.on(event as 'down', listener as (d: MonitorDown) => void);
  });
}

describe('watchUevents with a stand-in udevadm', () => {
  it('announces ready, delivers each PCI event, and comes back after the monitor dies', async () => {
    const log: string[] = [];
    const events: Uevent[] = [];
    watcher = watchUevents({ command: [join(dir, 'udevadm'), dir, FIXTURE], restartDelayMs: 50 });
    watcher.on('ready', () => log.push('ready'));
    watcher.on('restart', () => log.push('restart'));
    watcher.on('uevent', (e) => {
      events.push(e);
      log.push(`${e.action} ${e.props.PCI_SLOT_NAME}${e.props.DRIVER ? ` ${e.props.DRIVER}` : ''}`);
    });
    const down = await once(watcher, 'down');
    log.push('down');
    expect(down.reason).toMatch(/never started listening|stopped listening/);
    expect(down.reason).toMatch(/exited with code 1 \(Failed to receive device: Connection reset\)/);
    expect(down).toMatchObject({ attempt: 1, retryInMs: 50 });

    await once(watcher, 'restart');
    expect(watcher.listening).toBe(true);
    // The restarted monitor printed the same capture: wait until its five events are in.
    await new Promise<void>((resolve) => {
      const check = (): void => (events.length >= 10 ? resolve() : void setTimeout(check, 10));
      check();
    });
    const once5 = ['add 0000:01:00.0', 'bind 0000:01:00.0 nvidia', 'unbind 0000:01:00.0', 'bind 0000:01:00.0 vfio-pci', 'remove 0000:01:00.0'];
    expect(log).toEqual(['ready', ...once5, 'down', 'ready', 'restart', ...once5]);
    expect(events[1]?.devpath).toBe('/devices/pci0000:00/0000:00:01.0/0000:01:00.0');
  });

  it('stop() kills the monitor and nothing is emitted afterwards', async () => {
    watcher = watchUevents({ command: [join(dir, 'udevadm'), dir, FIXTURE], restartDelayMs: 20 });
    await once(watcher, 'restart');
    const pid = Number(readFileSync(join(dir, 'pid.2'), 'utf8'));
    expect(alive(pid)).toBe(true);
    let after = 0;
    await watcher.stop();
    watcher.on('uevent', () => after++);
    watcher.on('down', () => after++);
    expect(alive(pid)).toBe(false);
    expect(watcher.listening).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(after).toBe(0);
    expect(existsSync(join(dir, 'pid.3'))).toBe(false);
  });

  it('a missing udevadm is reported with an install hint and retried with growing delays, never thrown', async () => {
    const missing = join(dir, 'no-such-udevadm');
    watcher = watchUevents({ command: [missing, 'monitor'], restartDelayMs: 10, maxRestartDelayMs: 40 });
    const ready = watcher.whenReady(5000);
    const downs: MonitorDown[] = [];
    await new Promise<void>((resolve) => {
      watcher!.on('down', (d) => {
        downs.push(d);
        if (downs.length === 4) resolve();
      });
    });
    await expect(ready).resolves.toBe(false);
    expect(downs[0]?.reason).toMatch(/no-such-udevadm not found: install the udev package/);
    expect(downs.map((d) => d.retryInMs)).toEqual([10, 20, 40, 40]);
    expect(downs.map((d) => d.attempt)).toEqual([1, 2, 3, 4]);
  });

  it('a monitor that exits at once without a banner (chroot) is retried, with what it said', async () => {
    const chroot = join(dir, 'chroot-udevadm');
    writeFileSync(chroot, '#!/bin/sh\necho "Running in chroot, ignoring request." >&2\nexit 0\n', { mode: 0o755 });
    watcher = watchUevents({ command: [chroot], restartDelayMs: 10 });
    const down = await once(watcher, 'down');
    expect(down.reason).toMatch(/never started listening: it exited with code 0 \(Running in chroot, ignoring request\.\)/);
  });

  it('whenReady resolves true once the banner is read', async () => {
    const quiet = join(dir, 'quiet-udevadm');
    writeFileSync(quiet, '#!/bin/sh\nprintf "monitor will print the received events for:\\nKERNEL - the kernel uevent\\n\\n"\nexec sleep 300\n', { mode: 0o755 });
    watcher = watchUevents({ command: [quiet] });
    await expect(watcher.whenReady(10_000)).resolves.toBe(true);
    await expect(watcher.whenReady(1)).resolves.toBe(true);
  });
});
