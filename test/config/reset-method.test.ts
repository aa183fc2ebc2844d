import { describe, expect, it } from 'vitest';
import { formatConfigError, parseConfig } from '../../src/config/index.js';

const FILE = '/etc/pcie-passthroughd/config.toml';

function parse(text: string) {
  return parseConfig(text, FILE);
}

describe('reset_method in [[device]]', () => {
  it('takes the methods space-separated, in order; "" disables resets', () => {
    const r = parse('[[device]]\naddress = "0a:00.0"\nreset_method = "device_specific"\n\n[[device]]\naddress = "0b:00.0"\nreset_method = "flr  bus"\n\n[[device]]\naddress = "0c:00.0"\nreset_method = ""\n\n[[device]]\naddress = "0d:00.0"\n');
    if (!r.ok) throw new Error(r.errors.map(formatConfigError).join('\n'));
    expect(r.config.devices.map((d) => d.resetMethod)).toEqual([['device_specific'], ['flr', 'bus'], [], undefined]);
  });

  it('an unknown method is an error at the value, with file:line:column and the known names', () => {
    const r = parse('[[device]]\naddress = "0a:00.0"\nreset_method = "warm"\n');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map(formatConfigError)).toEqual([
      `${FILE}:3:16: reset_method: unknown reset method "warm" (known: device_specific, acpi, flr, af_flr, pm, bus, cxl_bus; e.g. "device_specific" for vendor-reset, "flr bus")`,
    ]);
  });

  it('commas, repeats, "default" and a non-string are refused with what to write', () => {
    const one = (text: string): string => {
      const r = parse(`[[device]]\naddress = "0a:00.0"\n${text}\n`);
      if (r.ok || r.errors.length !== 1) throw new Error(`expected one error for ${text}`);
      return formatConfigError(r.errors[0]!);
    };
    expect(one('reset_method = "flr,bus"')).toContain('separate methods with spaces, not commas');
    expect(one('reset_method = "bus bus"')).toContain('"bus" is listed twice');
    expect(one('reset_method = "default"')).toContain('leave reset_method out');
    expect(one('reset_method = ["flr"]')).toMatch(/:3:16: reset_method must be a string in double quotes, not an array/);
  });

  it('a misspelt key suggests reset_method', () => {
    const r = parse('[[device]]\naddress = "0a:00.0"\nreset_methods = "bus"\n');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]!.message).toContain('did you mean "reset_method"?');
  });
});
