import { formatConfigError } from '../config/errors.js';
import { loadConfig } from '../config/load.js';
import { readOwned, writeOwned } from '../apply/owned.js';
import { assess, observe } from '../engine.js';
import { DEFAULT_DAEMON_SETTINGS, type Config, type Verdict } from '../model.js';
import { reconcileOnce } from '../reconcile.js';
import { describeHolder, StateLockTimeout, withStateLock } from '../apply/state-lock.js';
import { waitingDevices, withHolders } from '../health/waiting.js';
import { deviceFiles, findHolders } from '../sysfs/holders.js';
import { createSysfsWriter } from '../sysfs/writer.js';
import { EXIT, UsageError } from './exit.js';
import type { CliOptions } from './main.js';
import { describeAction } from '../plan/describe.js';
import { checksText, devicesText, groupsText, iommuLine } from './text.js';
import { checkView, deviceViews, groupViews, resultView, worstStatus } from './views.js';
import { readDirectly } from './direct.js';
import { assessClaims, withClaimChecks } from '../claim/assess.js';
import { refreshInitramfs } from './initramfs.js';
import { metricsFromView } from '../metrics/exporter.js';
import { renderMetrics } from '../metrics/render.js';

type Print = (s: string) => void;

const EMPTY_CONFIG = (path: string): Config => ({ path, daemon: { ...DEFAULT_DAEMON_SETTINGS }, devices: [] });

/** Loads the config; on errors prints them (file:line:col) and returns null. */
async function configOrReport(opts: CliOptions, err: Print): Promise<Config | null> {
  const loaded = await loadConfig(opts.config, opts.root);
  if (loaded.ok) return loaded.config;
  for (const e of loaded.errors) err(formatConfigError(e));
  err(`pcie-passthroughctl: ${opts.config} has ${loaded.errors.length} error(s); nothing was changed`);
  return null;
}

/** 0 when every managed device is (or will be) where the config wants it, else 1. */
function managedExit(verdicts: Verdict[], acceptPending: boolean): number {
  const ok = verdicts.filter((v) => v.managed).every((v) => v.state === 'bound' || (acceptPending && v.state === 'pending'));
  return ok ? EXIT.ok : EXIT.warning;
}

/** An unbind that hung or a release held by a VM: name who holds the device (one /proc walk, only then). */
function explainWaits(root: string, run: Awaited<ReturnType<typeof reconcileOnce>>): Verdict[] {
  const hung = new Set(run.results.flatMap((r) => (r.stuck && 'address' in r.action ? [r.action.address] : [])));
  const waiting = waitingDevices(run.snapshot, run.verdicts, run.owned, hung);
  if (waiting.length === 0) return run.verdicts;
  return withHolders(run.verdicts, findHolders(root, new Map(waiting.map((d) => [d.address, deviceFiles(root, d)]))));
}

export async function runLocalCommand(command: string, opts: CliOptions, out: Print, err: Print): Promise<number> {
  switch (command) {
    case 'check': {
      const [snapshot, owned, loaded] = await Promise.all([observe(opts.root), readOwned(opts.root), loadConfig(opts.config, opts.root)]);
      // The IOMMU checks need no config; the early-claim checks use it when it is valid.
      const config = loaded.ok ? loaded.config : EMPTY_CONFIG(opts.config);
      const assessed = assess(config, snapshot, owned.state);
      const claims = await assessClaims(opts.root, { config, snapshot, verdicts: assessed.plan.verdicts, report: assessed.report, owned: owned.state });
      const report = { ...assessed.report, checks: withClaimChecks(assessed.report.checks, claims.checks) };
      out(opts.json ? JSON.stringify(checkView(report), null, 2) : checksText(report));
      const worst = worstStatus(report.checks);
      return worst === 'fail' ? EXIT.failure : worst === 'warn' ? EXIT.warning : EXIT.ok;
    }
    case 'groups': {
      const snapshot = await observe(opts.root);
      const groups = groupViews(snapshot);
      out(opts.json ? JSON.stringify({ groups }, null, 2) : groupsText(groups));
      return EXIT.ok;
    }
    case 'list':
    case 'plan': {
      const loaded = await loadConfig(opts.config, opts.root);
      // plan without a valid config would only mislead; list still shows the devices, with the error.
      if (!loaded.ok && command === 'plan') {
        for (const e of loaded.errors) err(formatConfigError(e));
        err(`pcie-passthroughctl: ${opts.config} has ${loaded.errors.length} error(s); nothing was planned`);
        if (opts.json) out(JSON.stringify({ configPath: opts.config, configError: loaded.errors.map(formatConfigError).join('\n'), actions: [], devices: [], unmatched: [] }, null, 2));
        return EXIT.failure;
      }
      const config = loaded.ok ? loaded.config : EMPTY_CONFIG(opts.config);
      const configError = loaded.ok ? null : loaded.errors.map(formatConfigError).join('\n');
      const [snapshot, owned] = await Promise.all([observe(opts.root), readOwned(opts.root)]);
      const { plan, importProblems, report } = assess(config, snapshot, owned.state);
      for (const p of importProblems) err(`warning: ${formatConfigError(p)}`);
      const claims = await assessClaims(opts.root, { config, snapshot, verdicts: plan.verdicts, report, owned: owned.state });
      const devices = deviceViews(snapshot, plan, claims.statuses);
      for (const u of plan.unmatched) err(`warning: ${u}`);
      const configLine = `Config: ${opts.config}${loaded.ok ? (loaded.missing ? ' (absent: no devices configured)' : ` (${config.devices.length} entr${config.devices.length === 1 ? 'y' : 'ies'})`) : ' (INVALID, see the errors; nothing is managed)'}`;
      if (command === 'list') {
        if (opts.json) {
          out(JSON.stringify({ configPath: opts.config, configError, iommu: { enabled: report.enabled, kind: report.kind, groupCount: report.groupCount, interruptRemapping: report.interruptRemapping }, devices, unmatched: plan.unmatched }, null, 2));
        } else {
          out(`${iommuLine(report)}\n${configLine}\n\n${devicesText(devices)}`);
        }
        if (!loaded.ok) {
          for (const e of loaded.errors) err(formatConfigError(e));
          err(`pcie-passthroughctl: ${opts.config} has ${loaded.errors.length} error(s)`);
          return EXIT.failure;
        }
        return plan.unmatched.length || plan.verdicts.some((v) => v.state === 'missing') ? EXIT.warning : EXIT.ok;
      }
      const managed = devices.filter((d) => d.managed || d.reason);
      if (opts.json) {
        out(JSON.stringify({ configPath: opts.config, configError, actions: plan.actions, devices: managed, unmatched: plan.unmatched }, null, 2));
      } else {
        out(configLine);
        out(plan.actions.length ? plan.actions.map(describeAction).join('\n') : 'Nothing to do.');
        if (managed.length) out(`\n${devicesText(managed)}`);
      }
      return plan.unmatched.length ? EXIT.warning : managedExit(plan.verdicts, true);
    }
    case 'metrics': {
      const direct = await readDirectly(opts);
      for (const e of direct.configErrors) err(formatConfigError(e));
      out(renderMetrics(metricsFromView(direct.view, null)).trimEnd());
      return direct.configErrors.length ? EXIT.failure : EXIT.ok;
    }
    case 'who': {
      const { runWho } = await import('./who.js');
      return runWho(opts, out, err);
    }
    case 'apply': {
      if (opts.root === '/' && process.getuid?.() !== 0) {
        err('pcie-passthroughctl: apply writes to /sys and needs root (try sudo)');
        return EXIT.noPermission;
      }
      // One writer at a time: a running daemon does it; only when none answers do we act, under its lock.
      if (opts.root === '/' || opts.busGiven) {
        const { applyThroughDaemon } = await import('./apply-daemon.js');
        const viaDaemon = await applyThroughDaemon(opts, out, err);
        if (viaDaemon !== null) return viaDaemon;
      }
      const config = await configOrReport(opts, err);
      if (!config) return EXIT.failure;
      let ran;
      try {
        ran = await withStateLock(opts.root, 'pcie-passthroughctl apply', async () => {
          // Read under the lock: the daemon may have recorded devices since we started.
          const owned = await readOwned(opts.root);
          if (owned.problem) err(`warning: ${owned.problem}`);
          const done = await reconcileOnce({ root: opts.root, port: createSysfsWriter(opts.root), config, owned: owned.state });
          if (done.results.length) await writeOwned(opts.root, done.owned);
          return done;
        }, { onWait: (holder) => err(`pcie-passthroughctl: waiting for ${describeHolder(holder)} to finish acting on the devices`) });
      } catch (e) {
        if (!(e instanceof StateLockTimeout)) throw e;
        err(`pcie-passthroughctl: ${e.message}`);
        return EXIT.failure;
      }
      const run = { ...ran, verdicts: explainWaits(opts.root, ran) };
      const devices = deviceViews(run.snapshot, { ...run.assessment.plan, verdicts: run.verdicts });
      const managed = devices.filter((d) => d.managed || d.reason);
      if (opts.json) {
        out(JSON.stringify({ via: 'direct', results: run.results.map(resultView), devices: managed }, null, 2));
      } else {
        out(run.results.length ? run.results.map((r) => r.message).join('\n') : 'Nothing to do.');
        if (managed.length) out(`\n${devicesText(managed)}`);
      }
      return managedExit(run.verdicts, false);
    }
    case 'initramfs':
      return refreshInitramfs(opts, out, err);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}
