/**
 * The per-device health attributes (src/health/ judges them): reset capability, whether config space
 * still answers, and the memory BARs of display devices. Called from readDevice for every device, so
 * each read is skipped where the kernel certainly has no file (see the comments).
 */
import { existsSync } from 'node:fs';
import type { DeviceHealthFacts } from '../model.js';
import { readText } from './tolerant.js';

/** IORESOURCE_MEM in a `resource` line's flags column (include/linux/ioport.h). */
const IORESOURCE_MEM = 0x200;
/** `resource` lists BARs 0-5 first, then the expansion ROM (6) and bridge windows. */
const STANDARD_BARS = 6;

/** `resource`: one "0xstart 0xend 0xflags" line per region; unused regions read all zeros. */
export function parseResourceFile(text: string): DeviceHealthFacts['memoryBars'] {
  const bars: DeviceHealthFacts['memoryBars'] = [];
  text.split('\n').slice(0, STANDARD_BARS).forEach((line, bar) => {
    const [start, end, flags] = line.trim().split(/\s+/).map((x) => Number.parseInt(x, 16));
    if (start === undefined || end === undefined || flags === undefined || Number.isNaN(flags)) return;
    if ((flags & IORESOURCE_MEM) === 0 || end <= start) return;
    bars.push({ bar, start, end });
  });
  return bars;
}

export function readDeviceHealth(dir: string, classCode: number, configAllOnes: boolean): DeviceHealthFacts {
  // Documentation/ABI/testing/sysfs-bus-pci: `reset` is created only when the kernel can reset the
  // function; `reset_method` (5.15+) likewise, and reads the enabled methods space-separated.
  // One read on 5.15+ kernels: reset_method exists only where reset does.
  const methods = readText(dir + '/reset_method');
  return {
    resettable: methods !== null || existsSync(dir + '/reset'),
    resetMethods: methods === null ? null : methods.trim().split(/\s+/).filter(Boolean),
    configAllOnes,
    // Only a GPU can hold the firmware's boot framebuffer; other devices skip the read.
    memoryBars: classCode >> 16 === 0x03 ? parseResourceFile(readText(dir + '/resource') ?? '') : [],
  };
}
