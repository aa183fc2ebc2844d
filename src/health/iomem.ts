/**
 * /proc/iomem → the firmware boot framebuffers in it. Lines are "start-end : name", nested by two
 * spaces; as non-root the kernel prints every address as zeros (kptr_restrict-like), which says nothing.
 */
import type { FirmwareFramebuffer } from '../model.js';

/** Names the kernel gives the firmware framebuffer's region: x86 sysfb (BOOTFB), efifb, vesafb, simpledrm/simplefb. */
const FRAMEBUFFER_NAME = /^(BOOTFB|efifb|vesafb|simpledrm|simple-framebuffer(\.\d+)?)$/;

/** Null when the addresses are hidden (every range reads 0-0), so "no framebuffer" is never guessed. */
export function parseIomemFramebuffers(text: string): FirmwareFramebuffer[] | null {
  const found: FirmwareFramebuffer[] = [];
  let anyAddress = false;
  for (const line of text.split('\n')) {
    const m = /^\s*([0-9a-f]+)-([0-9a-f]+) : (.+)$/i.exec(line);
    if (!m) continue;
    const start = Number.parseInt(m[1]!, 16);
    const end = Number.parseInt(m[2]!, 16);
    if (end > 0) anyAddress = true;
    const name = m[3]!.trim();
    if (FRAMEBUFFER_NAME.test(name)) found.push({ name, start, end });
  }
  return anyAddress ? found : null;
}
