/**
 * Issue 11: a reconcile that throws (not one whose action failed) is counted by
 * pcie_passthroughd_reconcile_failures_total too, and the daemon carries on.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { seedIntel } from '../fake/hosts.js';
import { buildHost, tempTreeDir, type FakeHost } from '../fake/tree.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';

let host: FakeHost | null = null;
let daemon: RunningDaemon | null = null;

afterEach(async () => {
  await daemon?.stop();
  host?.cleanup();
  daemon = null;
  host = null;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('a reconcile that cannot finish (/run/pcie-passthroughd is not a directory) counts as a failure', async () => {
  host = await buildHost(tempTreeDir(), seedIntel());
  mkdirSync(join(host.root, 'srv/prom'), { recursive: true });
  mkdirSync(join(host.root, 'etc/pcie-passthroughd'), { recursive: true });
  writeFileSync(join(host.root, 'etc/pcie-passthroughd/config.toml'), '[daemon]\nmetrics_textfile = "/srv/prom/ppd.prom"\n');
  daemon = startDaemon(host, 'none');
  await daemon.waitForLog((l) => l.msg === 'ready');
  const file = join(host.root, 'srv/prom/ppd.prom');
  expect(readFileSync(file, 'utf8')).toMatch(/^pcie_passthroughd_reconcile_failures_total 0$/m);

  const run = join(host.root, 'run/pcie-passthroughd');
  renameSync(run, `${run}.away`);
  writeFileSync(run, 'not a directory\n');
  daemon.child.kill('SIGHUP');
  await daemon.waitForLog((l) => /^reconcile \(reload\) failed: /.test(l.msg));
  const until = Date.now() + 10_000;
  while (!/^pcie_passthroughd_reconcile_failures_total 1$/m.test(readFileSync(file, 'utf8')) && Date.now() < until) await sleep(50);
  expect(readFileSync(file, 'utf8')).toMatch(/^pcie_passthroughd_reconcile_failures_total 1$/m);
  expect(readFileSync(file, 'utf8')).toMatch(/^pcie_passthroughd_reconciles_total 2$/m);

  // Fixed: the next reconcile runs (and is not a failure).
  rmSync(run);
  renameSync(`${run}.away`, run);
  daemon.child.kill('SIGHUP');
  while (!/^pcie_passthroughd_reconciles_total 3$/m.test(readFileSync(file, 'utf8')) && Date.now() < until + 10_000) await sleep(50);
  expect(readFileSync(file, 'utf8')).toMatch(/^pcie_passthroughd_reconciles_total 3$/m);
  expect(readFileSync(file, 'utf8')).toMatch(/^pcie_passthroughd_reconcile_failures_total 1$/m);
}, 60_000);
