/**
 * Syntax of the PCI identifiers an admin writes in config.toml: addresses, vendor:device ids and
 * driver names. Pure; each check returns the normalised value or a sentence saying what to write.
 */
import type { Address, IdMatch } from '../model.js';

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string };

// sysfs names devices "%04x:%02x:%02x.%d" (domain may be wider than 4 digits, e.g. Intel VMD's 10000).
const ADDRESS_SHAPE = /^(?:([0-9a-fA-F]{4,8}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-9a-fA-F])$/;

/** "01:00.0" or "0000:01:00.0" (any case) → "0000:01:00.0". */
export function checkAddress(raw: string): Checked<Address> {
  const m = ADDRESS_SHAPE.exec(raw);
  if (m === null) {
    return {
      ok: false,
      problem:
        `"${raw}" is not a PCI address; write domain:bus:device.function in hex, ` +
        'e.g. "0000:01:00.0" (or "01:00.0"), as `lspci -D` shows it',
    };
  }
  const [, domain = '0000', bus = '', device = '', fn = ''] = m;
  if (parseInt(device, 16) > 0x1f) {
    return { ok: false, problem: `device number ${device} in "${raw}" is out of range: it must be 00 to 1f` };
  }
  if (parseInt(fn, 16) > 7) {
    return { ok: false, problem: `function number ${fn} in "${raw}" is out of range: it must be 0 to 7` };
  }
  const domainHex = parseInt(domain, 16).toString(16).padStart(4, '0');
  return { ok: true, value: `${domainHex}:${bus}:${device}.${fn}`.toLowerCase() };
}

const ID_SHAPE = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$/;

/** "10DE:1b80" → { vendor: 0x10de, device: 0x1b80 }; `what` names the key in the message. */
export function checkIdPair(raw: string, what: 'id' | 'subsystem'): Checked<IdMatch> {
  const m = ID_SHAPE.exec(raw);
  if (m === null) {
    const example =
      what === 'id'
        ? 'e.g. "10de:1b80", the [vendor:device] pair `lspci -nn` prints'
        : 'e.g. "1028:1234", the pair after "Subsystem:" in `lspci -vnn`';
    return { ok: false, problem: `"${raw}" is not a valid ${what}; write 4 hex digits, a colon and 4 hex digits, ${example}` };
  }
  return { ok: true, value: { vendor: parseInt(m[1] ?? '', 16), device: parseInt(m[2] ?? '', 16) } };
}

// Driver names become a path component under /sys/bus/pci/drivers and are compared verbatim
// with driver_override, so only the characters kernel drivers use are allowed.
const DRIVER_SHAPE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function checkDriverName(raw: string): Checked<string> {
  if (raw === '') return { ok: false, problem: 'driver must not be empty; remove the key to use the default, or write e.g. "vfio-pci"' };
  if (raw !== 'vfio-pci' && raw.replace(/_/g, '-') === 'vfio-pci') {
    // modprobe accepts vfio_pci, but the PCI driver (and driver_override) is spelled with a dash.
    return { ok: false, problem: `"${raw}" is the module name; the PCI driver is called "vfio-pci": write driver = "vfio-pci"` };
  }
  if (!DRIVER_SHAPE.test(raw)) {
    return {
      ok: false,
      problem: `"${raw}" is not a kernel driver name; use the name listed in /sys/bus/pci/drivers (letters, digits, "-" and "_"), e.g. "vfio-pci"`,
    };
  }
  return { ok: true, value: raw };
}
