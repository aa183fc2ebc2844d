/**
 * `reset_method` in a [[device]]: the methods the kernel should try, in order, as sysfs reset_method
 * takes them (Documentation/ABI/testing/sysfs-bus-pci: names separated by spaces; an empty string
 * disables resets). Pure; returns the list or a sentence saying what to write.
 */
import type { Checked } from './pci-syntax.js';

/** The names drivers/pci/pci.c knows (pci_reset_fn_methods); cxl_bus since Linux 6.7. */
export const RESET_METHODS = ['device_specific', 'acpi', 'flr', 'af_flr', 'pm', 'bus', 'cxl_bus'] as const;

export function checkResetMethod(raw: string): Checked<string[]> {
  const names = raw.trim().split(/\s+/).filter(Boolean);
  const known = RESET_METHODS.join(', ');
  for (const name of names) {
    if (name === 'default') {
      return { ok: false, problem: '"default" is not needed here: leave reset_method out to keep the kernel\'s own choice' };
    }
    if (!(RESET_METHODS as readonly string[]).includes(name)) {
      const hint = name.includes(',') ? '; separate methods with spaces, not commas' : '';
      return { ok: false, problem: `unknown reset method "${name}"${hint} (known: ${known}; e.g. "device_specific" for vendor-reset, "flr bus")` };
    }
  }
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  if (repeated !== undefined) return { ok: false, problem: `"${repeated}" is listed twice; name each method once, in the order to try them` };
  return { ok: true, value: names };
}
