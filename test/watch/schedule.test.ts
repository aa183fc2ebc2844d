import { describe, expect, it } from 'vitest';
import { scheduleError, startSchedule } from '../../src/watch/schedule.js';

describe('scheduleError', () => {
  it('accepts cron expressions an admin writes for check_schedule', () => {
    expect(scheduleError('*/5 * * * *')).toBeNull();
    expect(scheduleError('0 3 * * 1-5')).toBeNull();
  });

  it('explains what is wrong with a bad expression', () => {
    expect(scheduleError('every 5 minutes')).toMatch(/"every 5 minutes" is not a valid cron expression.*\*\/5/);
    expect(scheduleError('61 * * * *')).toMatch(/not a valid cron expression/);
    expect(scheduleError('  ')).toMatch(/empty schedule/);
  });
});

describe('startSchedule', () => {
  it('refuses an invalid expression instead of never ticking', () => {
    expect(() => startSchedule('*/5 * *', () => undefined)).toThrow(/not a valid cron expression/);
  });

  it('ticks on the schedule and stops ticking after stop()', async () => {
    let ticks = 0;
    let firstTick!: () => void;
    const ticked = new Promise<void>((resolve) => (firstTick = resolve));
    // Six fields: every second, so the test sees a tick quickly.
    const schedule = startSchedule('* * * * * *', () => {
      ticks++;
      firstTick();
    });
    await ticked;
    schedule.stop();
    schedule.stop();
    const atStop = ticks;
    await new Promise((resolve) => setTimeout(resolve, 1300));
    expect(ticks).toBe(atStop);
  });

  it('keeps ticking when the tick throws', async () => {
    let ticks = 0;
    let secondTick!: () => void;
    const twice = new Promise<void>((resolve) => (secondTick = resolve));
    const schedule = startSchedule('* * * * * *', () => {
      ticks++;
      if (ticks === 2) secondTick();
      throw new Error('tick failed');
    });
    await twice;
    schedule.stop();
    expect(ticks).toBeGreaterThanOrEqual(2);
  });
});
