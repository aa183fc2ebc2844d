/**
 * `pcie-passthroughctl initramfs [--update]`: is the running kernel's initramfs older than the early claims
 * it needs, and refresh it on request (never on its own: a rebuild takes a while and touches /boot).
 */
import { readOwned } from '../apply/owned.js';
import { assessClaims } from '../claim/assess.js';
import { writeClaimsFile } from '../claim/files.js';
import { refreshCommand } from '../claim/initramfs.js';
import { loadConfig } from '../config/load.js';
import { formatConfigError } from '../config/errors.js';
import { assess, observe } from '../engine.js';
import { runCommand } from '../setup/apply.js';
import { EXIT } from './exit.js';
import type { CliOptions } from './main.js';

type Print = (s: string) => void;

export async function refreshInitramfs(opts: CliOptions, out: Print, err: Print): Promise<number> {
  const loaded = await loadConfig(opts.config, opts.root);
  if (!loaded.ok) {
    for (const e of loaded.errors) err(formatConfigError(e));
    err(`pcie-passthroughctl: ${opts.config} is invalid; fix it first (the initramfs would carry the wrong claims)`);
    return EXIT.failure;
  }
  const [snapshot, owned] = await Promise.all([observe(opts.root), readOwned(opts.root)]);
  const { plan, report } = assess(loaded.config, snapshot, owned.state);
  const claims = await assessClaims(opts.root, { config: loaded.config, snapshot, verdicts: plan.verdicts, report, owned: owned.state });
  const check = claims.initramfs.check;
  const command = refreshCommand(snapshot.iommu.kernelRelease);
  if (!opts.update) {
    if (opts.json) out(JSON.stringify({ state: claims.initramfs.state, check, command }, null, 2));
    else out(`${check.status === 'pass' ? 'pass' : 'WARN'}  ${check.message}`);
    return check.status === 'pass' ? EXIT.ok : EXIT.warning;
  }
  if (process.getuid?.() !== 0) {
    err('pcie-passthroughctl: initramfs --update rebuilds /boot/initrd.img and needs root (try sudo)');
    return EXIT.noPermission;
  }
  if (claims.hold) {
    err(`pcie-passthroughctl: not rebuilding the initramfs: ${claims.hold}, so the claims would lack its guests' devices; run this again once it can be read`);
    return EXIT.failure;
  }
  // The hook copies the claims file: make it current first (the daemon does the same after each reconcile).
  await writeClaimsFile(opts.root, claims.text);
  // Under --root the tool runs chrooted into that system (as setup runs update-grub), or not at all.
  const argv = command.split(' ');
  out(`Running ${command}${opts.root === '/' ? '' : ` chrooted into ${opts.root}`} …`);
  const run = await runCommand(opts.root, { argv, why: 'early claims into the initramfs', effect: null }, (line) => out(line));
  if (run.outcome !== 'ran') {
    err(`pcie-passthroughctl: ${command} ${run.outcome === 'failed' ? `failed (${run.detail})` : run.detail}`);
    return EXIT.failure;
  }
  const after = await assessClaims(opts.root, { config: loaded.config, snapshot, verdicts: plan.verdicts, report, owned: owned.state });
  out(after.initramfs.check.message);
  return after.initramfs.check.status === 'pass' ? EXIT.ok : EXIT.warning;
}
