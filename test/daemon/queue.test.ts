import { describe, expect, it } from 'vitest';
import { ReconcileQueue } from '../../src/daemon/queue.js';

/** A run whose completion the test controls. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('ReconcileQueue', () => {
  it('merges triggers made in the same tick into one run', async () => {
    const runs: string[][] = [];
    const queue = new ReconcileQueue(async (reasons) => {
      runs.push(reasons);
    });
    queue.trigger('start');
    queue.trigger('config changed');
    queue.trigger('start');
    await queue.idle();
    expect(runs).toEqual([['start', 'config changed']]);
  });

  it('coalesces every trigger made during a run into exactly one follow-up run', async () => {
    const runs: string[][] = [];
    const first = gate();
    let started!: () => void;
    const firstStarted = new Promise<void>((resolve) => (started = resolve));
    const queue = new ReconcileQueue(async (reasons) => {
      runs.push(reasons);
      if (runs.length === 1) {
        started();
        await first.promise;
      }
    });
    queue.trigger('start');
    await firstStarted;
    expect(queue.busy).toBe(true);
    for (let i = 0; i < 25; i++) queue.trigger(`uevent ${i}`);
    queue.trigger('uevent 3');
    first.open();
    await queue.idle();
    expect(runs).toHaveLength(2);
    expect(runs[1]).toEqual(Array.from({ length: 25 }, (_, i) => `uevent ${i}`));
    expect(queue.busy).toBe(false);
  });

  it('never runs two reconciles at the same time', async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    const queue = new ReconcileQueue(async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      runs++;
      await new Promise((resolve) => setImmediate(resolve));
      active--;
    });
    for (let i = 0; i < 10; i++) {
      queue.trigger(`t${i}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await queue.idle();
    expect(maxActive).toBe(1);
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(runs).toBeLessThanOrEqual(10);
  });

  it('keeps working after a run throws, and reports the error with its reasons', async () => {
    const errors: { message: string; reasons: string[] }[] = [];
    const runs: string[][] = [];
    const queue = new ReconcileQueue(
      async (reasons) => {
        runs.push(reasons);
        if (reasons.includes('bad')) throw new Error('sysfs exploded');
      },
      { onError: (error, reasons) => errors.push({ message: (error as Error).message, reasons }) },
    );
    queue.trigger('bad');
    await queue.idle();
    queue.trigger('good');
    await queue.idle();
    expect(errors).toEqual([{ message: 'sysfs exploded', reasons: ['bad'] }]);
    expect(runs).toEqual([['bad'], ['good']]);
  });

  it('survives an error handler that throws', async () => {
    const runs: string[][] = [];
    const queue = new ReconcileQueue(
      async (reasons) => {
        runs.push(reasons);
        throw new Error('boom');
      },
      {
        onError: () => {
          throw new Error('logger broke');
        },
      },
    );
    queue.trigger('a');
    await queue.idle();
    queue.trigger('b');
    await queue.idle();
    expect(runs).toEqual([['a'], ['b']]);
  });

  it('stop() waits for the run in progress, drops what is pending and ignores later triggers', async () => {
    const runs: string[][] = [];
    const first = gate();
    let finished = false;
    const queue = new ReconcileQueue(async (reasons) => {
      runs.push(reasons);
      if (runs.length === 1) {
        await first.promise;
        finished = true;
      }
    });
    queue.trigger('start');
    await Promise.resolve();
    await Promise.resolve();
    queue.trigger('pending');
    const stopped = queue.stop();
    let stopResolved = false;
    void stopped.then(() => (stopResolved = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopResolved).toBe(false);
    first.open();
    await stopped;
    expect(finished).toBe(true);
    queue.trigger('after stop');
    await queue.idle();
    expect(runs).toEqual([['start']]);
  });

  it('idle() resolves at once when nothing was triggered', async () => {
    const queue = new ReconcileQueue(async () => undefined);
    await expect(queue.idle()).resolves.toBeUndefined();
  });
});
