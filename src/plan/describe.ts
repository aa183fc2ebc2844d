import type { Action } from '../model.js';

/** One line per action, device address first: the CLI's `plan` and D-Bus `Plan()` say the same. */
export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'load-driver':
      return `load driver ${a.driver} (modprobe)`;
    case 'set-override':
      return `${a.address}: write driver_override=${a.driver} (already on it)`;
    case 'bind':
      return `${a.address}: bind to ${a.driver}${a.from ? ` (unbind from ${a.from})` : ''}`;
    case 'release':
      return `${a.address}: release from ${a.from} back to the host driver`;
    case 'set-reset-method':
      return `${a.address}: write reset_method="${a.methods.join(' ')}"${a.methods.length === 0 ? ' (resets disabled)' : ''}`;
  }
}
