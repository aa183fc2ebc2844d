import { describe, expect, it } from 'vitest';
import { SharedResult } from '../../src/daemon/shared-result.js';

/** A computation the test finishes by hand, counting how often it was started. */
function gate() {
  const started: ((v: number) => void)[] = [];
  const compute = () => new Promise<number>((resolve) => started.push(resolve));
  return { started, compute };
}

describe('SharedResult (Plan() sharing)', () => {
  it('concurrent callers share one computation', async () => {
    const g = gate();
    const shared = new SharedResult(g.compute, 1000, () => 0);
    const answers = Array.from({ length: 300 }, () => shared.get());
    expect(g.started).toHaveLength(1);
    g.started[0]!(42);
    expect(await Promise.all(answers)).toEqual(Array(300).fill(42));
    expect(shared.computations).toBe(1);
  });

  it('serves a result younger than the limit again, then computes afresh', async () => {
    let clock = 0;
    let n = 0;
    const shared = new SharedResult(async () => ++n, 1000, () => clock);
    expect(await shared.get()).toBe(1);
    clock = 999;
    expect(await shared.get()).toBe(1);
    clock = 1000;
    expect(await shared.get()).toBe(2);
  });

  it('after invalidate() new callers do not join the older computation', async () => {
    const g = gate();
    const shared = new SharedResult(g.compute, 1000, () => 0);
    const before = shared.get();
    shared.invalidate();
    const after = shared.get();
    expect(g.started).toHaveLength(2);
    g.started[0]!(1);
    g.started[1]!(2);
    expect([await before, await after]).toEqual([1, 2]);
    // The older result is not cached over the newer one.
    expect(await shared.get()).toBe(2);
  });

  it('a failed computation is not cached', async () => {
    let fail = true;
    const shared = new SharedResult(async () => {
      if (fail) throw new Error('scan failed');
      return 7;
    }, 1000, () => 0);
    await expect(shared.get()).rejects.toThrow('scan failed');
    fail = false;
    expect(await shared.get()).toBe(7);
  });
});
