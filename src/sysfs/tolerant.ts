/**
 * Synchronous reads that treat a missing file as an answer, not an error: sysfs entries come and go
 * with hotplug, and most attributes exist only for some devices.
 */
import { readdirSync, readFileSync, realpathSync } from 'node:fs';

export function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

export function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export function realpath(file: string): string | null {
  try {
    return realpathSync(file);
  } catch {
    return null;
  }
}
