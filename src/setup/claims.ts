/**
 * The early-claim side of the initramfs (src/claim): whether the running kernel's initramfs lacks the
 * claims it needs, so that setup's `update-initramfs` also carries them. Same verdict as `check`'s
 * initramfs-claims and `pcie-passthroughctl initramfs`.
 */
import { readOwned } from '../apply/owned.js';
import { assessClaims } from '../claim/assess.js';
import { loadConfig } from '../config/load.js';
import { assess } from '../engine.js';
import type { Snapshot } from '../model.js';

export interface ClaimsInitramfs {
  /** Why the initramfs must be rebuilt for the early claims; null when it need not be. */
  stale: string | null;
  /** The claims file text to write before the rebuild (the hook copies it), when stale. */
  claimsText: string | null;
  /** Why the claims were not checked (an invalid config). */
  note: string | null;
}

export async function claimsInitramfs(root: string, configPath: string, snapshot: Snapshot): Promise<ClaimsInitramfs> {
  const loaded = await loadConfig(configPath, root);
  if (!loaded.ok) return { stale: null, claimsText: null, note: `${configPath} is invalid, so the early claims in the initramfs were not checked` };
  const owned = await readOwned(root);
  const { plan, report } = assess(loaded.config, snapshot, owned.state);
  const claims = await assessClaims(root, { config: loaded.config, snapshot, verdicts: plan.verdicts, report, owned: owned.state });
  if (claims.hold) return { stale: null, claimsText: null, note: `the early claims in the initramfs were not checked: ${claims.hold}` };
  const { state, check } = claims.initramfs;
  if (state !== 'stale' && state !== 'unknown') return { stale: null, claimsText: null, note: null };
  return { stale: `early claims: ${check.message.replace(/ Fix: .*$/, '')}`, claimsText: claims.text, note: null };
}
