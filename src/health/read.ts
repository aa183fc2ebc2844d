/** Host-wide health facts: two cheap reads per observation, whatever the number of devices. */
import { existsSync } from 'node:fs';
import type { HostHealthFacts } from '../model.js';
import { under } from '../paths.js';
import { readText } from '../sysfs/tolerant.js';
import { parseIomemFramebuffers } from './iomem.js';

export function readHostHealth(root: string): HostHealthFacts {
  const iomem = readText(under(root, '/proc/iomem'));
  return {
    framebuffers: iomem === null ? null : parseIomemFramebuffers(iomem),
    // The module is named vendor-reset; /sys/module spells it with an underscore.
    vendorResetLoaded: existsSync(under(root, '/sys/module/vendor_reset')),
  };
}
