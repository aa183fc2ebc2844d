import { describe, expect, it } from 'vitest';
import { validate } from 'node-cron';
import { cronProblem } from '../../src/config/index.js';

describe('check_schedule validation', () => {
  it.each([
    '*/5 * * * *',
    '0 3 * * *',
    '15,45 */2 1-15 * *',
    '0 0 * * 0',
    '0 0 * * 7',
    '0 8-18/2 * jan-mar mon-fri',
    '0 0 1 JAN *',
    '  */10 * * * *  ',
    '0-59/15 * * * *',
  ])('accepts "%s", and so does the scheduler', (expression) => {
    expect(cronProblem(expression)).toBeNull();
    expect(validate(expression.trim())).toBe(true);
  });

  it.each([
    ['', 'has 0 fields'],
    ['*/5 * * *', 'has 4 fields'],
    ['* * * * * *', 'has 6 fields'],
    ['@daily', 'shortcuts like @hourly are not supported'],
    // node-cron 4.2.1 itself loops until Node aborts on a zero step: it must never get here.
    ['*/0 * * * *', 'step "/0" in the minute field must be a whole number from 1 to 60'],
    ['0-59/0 * * * *', 'step "/0"'],
    ['*/1.5 * * * *', 'step "/1.5"'],
    ['*/-1 * * * *', 'step "/-1" in the minute field'],
    ['1- * * * *', '"1-" in the minute field is not a value, range'],
    ['60 * * * *', '"60" is not a valid minute (0-59)'],
    ['0 24 * * *', '"24" is not a valid hour (0-23)'],
    ['0 0 0 * *', '"0" is not a valid day of month (1-31)'],
    ['0 0 * 13 *', '"13" is not a valid month (1-12)'],
    ['0 0 * * 8', '"8" is not a valid day of week (0-7)'],
    ['0 0 * * funday', '"funday" is not a valid day of week'],
    ['5-1 * * * *', 'range "5-1" in the minute field runs backwards'],
    ['5/10 * * * *', 'a step needs "*" or a range before it, e.g. "5-59/10"'],
    ['1,,2 * * * *', 'is not a value, range'],
    ['0 0 ? * *', '"?" is not a valid day of month'],
    ['*/61 * * * *', 'from 1 to 60'],
  ])('refuses "%s"', (expression, words) => {
    const problem = cronProblem(expression);
    expect(problem).toContain(words);
    expect(problem).toContain('e.g. "*/5 * * * *"');
  });
});
