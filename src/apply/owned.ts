import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Address, OwnedState } from '../model.js';
import { STATE_FILE, under } from '../paths.js';
import type { ActionResult } from './apply.js';

/**
 * The devices this tool bound, kept in /run (tmpfs): driver_override itself is gone after a reboot, and so
 * is this record, which is right — at boot the config alone decides.
 */
export async function readOwned(root: string): Promise<{ state: OwnedState; problem: string | null }> {
  const path = under(root, STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: { devices: {} }, problem: null };
    return { state: { devices: {} }, problem: `cannot read ${path}: ${(err as Error).message}` };
  }
  try {
    const parsed = JSON.parse(text) as OwnedState;
    if (parsed && typeof parsed.devices === 'object' && parsed.devices !== null) return { state: parsed, problem: null };
  } catch {
    // fall through
  }
  return { state: { devices: {} }, problem: `${path} is not valid state; starting with an empty record (devices stay as they are)` };
}

/**
 * Pure: devices the early-claim helper took at add (its records in /run/pcie-passthroughd/claimed/)
 * are ours as much as those the daemon bound, so a config drop releases them too. Only while the device
 * is still on the claimed driver; what the daemon recorded itself wins.
 */
export function withEarlyClaims(
  state: OwnedState,
  records: Map<Address, { driver: string; hostDriver: string | null }>,
  currentDriver: (address: Address) => string | null | undefined,
  now: Date,
): OwnedState {
  let devices: OwnedState['devices'] | null = null;
  for (const [address, record] of records) {
    if (state.devices[address] || currentDriver(address) !== record.driver) continue;
    devices ??= { ...state.devices };
    devices[address] = { driver: record.driver, previousDriver: record.hostDriver, since: now.toISOString() };
  }
  return devices ? { devices } : state;
}

/** Pure: the record after a run's results. */
export function updateOwned(state: OwnedState, results: ActionResult[], now: Date): OwnedState {
  const devices = { ...state.devices };
  for (const r of results) {
    const a = r.action;
    if (a.kind === 'bind' && r.outcome === 'bound') {
      devices[a.address] = { driver: a.driver, previousDriver: r.previousDriver, since: now.toISOString() };
    } else if (a.kind === 'release' && (r.outcome === 'released' || r.outcome === 'vanished')) {
      delete devices[a.address];
    } else if (a.kind === 'bind' && r.outcome === 'vanished') {
      delete devices[a.address];
    } else if (a.kind === 'bind' && r.overrideLeft) {
      // Its driver_override still names our driver: a later release (config drop) must clear it.
      devices[a.address] = { driver: a.driver, previousDriver: r.previousDriver, since: now.toISOString() };
    }
  }
  return { devices };
}

export async function writeOwned(root: string, state: OwnedState): Promise<void> {
  const path = under(root, STATE_FILE);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, path);
}
