import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockText, parseLockText, StateLockTimeout, withStateLock, type LockHolder } from '../../src/apply/state-lock.js';

let root: string;
const lockPath = () => join(root, 'run/pcie-passthroughd/apply.lock');
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'state-lock-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function plant(holder: LockHolder): void {
  mkdirSync(join(root, 'run/pcie-passthroughd'), { recursive: true });
  writeFileSync(lockPath(), lockText(holder));
}

/** A pid that is certainly gone: a child that has already exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('the state lock (one writer at a time)', () => {
  it('is held while the work runs and removed after, also when the work throws', async () => {
    await withStateLock(root, 'test', async () => {
      expect(parseLockText(readFileSync(lockPath(), 'utf8'))).toMatchObject({ pid: process.pid, who: 'test' });
    });
    expect(existsSync(lockPath())).toBe(false);
    await expect(withStateLock(root, 'test', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(existsSync(lockPath())).toBe(false);
  });

  it('a second writer waits for the first, and is told who holds it', async () => {
    const order: string[] = [];
    let release!: () => void;
    const first = withStateLock(root, 'first', () => new Promise<void>((r) => { order.push('first in'); release = () => { order.push('first out'); r(); }; }));
    await new Promise((r) => setTimeout(r, 50));
    const waitedFor: (LockHolder | null)[] = [];
    const second = withStateLock(root, 'second', async () => { order.push('second in'); }, { onWait: (h) => waitedFor.push(h) });
    await new Promise((r) => setTimeout(r, 200));
    expect(order).toEqual(['first in']);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first in', 'first out', 'second in']);
    expect(waitedFor).toEqual([expect.objectContaining({ pid: process.pid, who: 'first' })]);
  });

  it('a lock left by a process that is gone is taken over', async () => {
    plant({ pid: deadPid(), startTime: '1', who: 'pcie-passthroughctl apply' });
    let ran = false;
    await withStateLock(root, 'test', async () => { ran = true; }, { timeoutMs: 1000 });
    expect(ran).toBe(true);
  });

  it('a live pid with another start time (the pid was reused) is not the holder', async () => {
    plant({ pid: process.pid, startTime: '1', who: 'pcie-passthroughd' });
    let ran = false;
    await withStateLock(root, 'test', async () => { ran = true; }, { timeoutMs: 1000 });
    expect(ran).toBe(true);
  });

  it('a live holder past the timeout: StateLockTimeout naming it, the work not run, its lock left alone', async () => {
    const parent = process.ppid;
    const stat = readFileSync(`/proc/${parent}/stat`, 'utf8');
    plant({ pid: parent, startTime: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!, who: 'pcie-passthroughd' });
    let ran = false;
    const p = withStateLock(root, 'test', async () => { ran = true; }, { timeoutMs: 300 });
    await expect(p).rejects.toBeInstanceOf(StateLockTimeout);
    await expect(p).rejects.toThrow(`held by pcie-passthroughd (pid ${parent})`);
    expect(ran).toBe(false);
    expect(existsSync(lockPath())).toBe(true);
  });
});
