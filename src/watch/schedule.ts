/**
 * The periodic drift check (`check_schedule`, cron syntax; node-cron 4.2 also accepts a leading
 * seconds field). The tick only triggers a reconcile: the queue coalesces it with anything else.
 */
import cron from 'node-cron';

/** Why a schedule expression is unusable, or null when node-cron accepts it. For config validation. */
export function scheduleError(expression: string): string | null {
  if (expression.trim() === '') return 'empty schedule: use cron syntax such as "*/5 * * * *"';
  return cron.validate(expression)
    ? null
    : `"${expression}" is not a valid cron expression: use 5 fields (minute hour day month weekday), e.g. "*/5 * * * *"`;
}

export interface Schedule {
  /** Stops ticking; safe to call twice. */
  stop(): void;
}

export function startSchedule(expression: string, tick: () => void): Schedule {
  const problem = scheduleError(expression);
  if (problem) throw new Error(problem);
  const task = cron.schedule(
    expression,
    () => {
      // An exception here would only reach node-cron's console logger; the tick's owner logs its own.
      try {
        tick();
      } catch {
        /* ignored: see above */
      }
    },
    { noOverlap: true },
  );
  let stopped = false;
  return {
    stop(): void {
      if (stopped) return;
      stopped = true;
      // destroy() also removes the task from node-cron's global registry.
      void task.destroy();
    },
  };
}
