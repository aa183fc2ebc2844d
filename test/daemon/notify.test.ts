import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notifyAssignments, sdNotify } from '../../src/daemon/notify.js';

/**
 * A stand-in for the service manager: a real AF_UNIX datagram socket that records each datagram
 * with the sender's PID (SCM_CREDENTIALS) and closes received fds, which is how systemd answers
 * systemd-notify's BARRIER=1.
 */
const RECEIVER = `
import array, json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({"bound": True}), flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(64))
    pid, fds = None, []
    for level, kind, data in anc:
        if kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", data[:12])[0]
        if kind == socket.SCM_RIGHTS:
            a = array.array("i"); a.frombytes(data[: len(data) - len(data) % 4]); fds += list(a)
    for fd in fds:
        os.close(fd)
    print(json.dumps({"msg": msg.decode(), "pid": pid, "fds": len(fds)}), flush=True)
`;

interface Datagram {
  msg: string;
  pid: number | null;
  fds: number;
}

const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
let dir: string;
let socketPath: string;
let receiver: ResultPromise;
const received: Datagram[] = [];
let waiters: (() => void)[] = [];

function nextDatagrams(count: number): Promise<Datagram[]> {
  const start = received.length;
  return new Promise((resolve) => {
    const check = (): void => {
      if (received.length >= start + count) resolve(received.slice(start, start + count));
      else waiters.push(check);
    };
    check();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ppd-notify-'));
  socketPath = join(dir, 'notify.sock');
  writeFileSync(join(dir, 'receiver.py'), RECEIVER);
  receiver = execa(python, [join(dir, 'receiver.py'), socketPath], { buffer: false, stdin: 'ignore', reject: false });
  const lines = createInterface({ input: receiver.stdout! });
  await new Promise<void>((resolve) => {
    lines.on('line', (line) => {
      const parsed = JSON.parse(line) as Datagram | { bound: true };
      if ('bound' in parsed) return resolve();
      received.push(parsed);
      const pending = waiters;
      waiters = [];
      for (const w of pending) w();
    });
  });
});

afterAll(async () => {
  receiver?.kill();
  await receiver;
  rmSync(dir, { recursive: true, force: true });
});

describe('notifyAssignments', () => {
  it('builds READY/STATUS and keeps the status on one line', () => {
    expect(notifyAssignments({ ready: true, status: 'Ready: 2 managed,\n2 bound' })).toEqual([
      'READY=1',
      'STATUS=Ready: 2 managed, 2 bound',
    ]);
  });

  it('stamps RELOADING=1 with MONOTONIC_USEC as systemd 253+ requires', () => {
    expect(notifyAssignments({ reloading: true }, 123456n)).toEqual(['RELOADING=1', 'MONOTONIC_USEC=123456']);
  });
});

describe('sdNotify through systemd-notify to a real datagram socket', () => {
  it('does nothing and reports false without NOTIFY_SOCKET', async () => {
    // A command that cannot run proves nothing was spawned.
    await expect(sdNotify({ ready: true }, { env: {}, command: join(dir, 'absent') })).resolves.toBe(false);
  });

  it('delivers READY=1 and the status line, and waits for the manager to acknowledge', async () => {
    const got = nextDatagrams(2);
    await expect(
      sdNotify({ ready: true, status: 'Ready: 2 managed, 2 bound, IOMMU intel-vt-d' }, { env: { NOTIFY_SOCKET: socketPath } }),
    ).resolves.toBe(true);
    const [message, barrier] = await got;
    expect(message?.msg).toBe('READY=1\nSTATUS=Ready: 2 managed, 2 bound, IOMMU intel-vt-d');
    expect(message?.pid).toBeGreaterThan(0);
    expect(barrier).toMatchObject({ msg: 'BARRIER=1', fds: 1 });
  });

  it('delivers STOPPING=1 and RELOADING=1 with a monotonic timestamp', async () => {
    const stopping = nextDatagrams(2);
    await sdNotify({ stopping: true, status: 'Stopping' }, { env: { NOTIFY_SOCKET: socketPath } });
    expect((await stopping)[0]?.msg).toBe('STOPPING=1\nSTATUS=Stopping');

    const reloading = nextDatagrams(2);
    const before = process.hrtime.bigint() / 1000n;
    await sdNotify({ reloading: true }, { env: { NOTIFY_SOCKET: socketPath } });
    const msg = (await reloading)[0]?.msg ?? '';
    const match = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(msg);
    expect(match).not.toBeNull();
    const stamp = BigInt(match![1]!);
    expect(stamp).toBeGreaterThanOrEqual(before);
    expect(stamp).toBeLessThanOrEqual(process.hrtime.bigint() / 1000n);
  });

  it('rejects with the socket and the reason when nobody listens', async () => {
    await expect(
      sdNotify({ ready: true }, { env: { NOTIFY_SOCKET: join(dir, 'nobody.sock') } }),
    ).rejects.toThrow(/NOTIFY_SOCKET=.*nobody\.sock failed: .*No such file or directory/);
  });

  it('rejects with an install hint when systemd-notify is missing', async () => {
    await expect(
      sdNotify({ ready: true }, { env: { NOTIFY_SOCKET: socketPath }, command: join(dir, 'no-systemd-notify') }),
    ).rejects.toThrow(/not found: install systemd/);
  });
});
