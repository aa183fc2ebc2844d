/** What the daemon would publish, computed here from sysfs and the config (status without a daemon, metrics). */
import { readOwned } from '../apply/owned.js';
import { assessClaims, withClaimChecks } from '../claim/assess.js';
import { formatConfigError, type ConfigError } from '../config/errors.js';
import { loadConfig } from '../config/load.js';
import { managerState, type DaemonView } from '../daemon/publish.js';
import { assess, observe } from '../engine.js';
import { DEFAULT_DAEMON_SETTINGS, type Action } from '../model.js';
import type { CliOptions } from './main.js';
import type { ManagerView } from './status.js';
import { deviceViews, type DeviceView } from './views.js';
import { VERSION } from '../version.js';

export interface DirectRead {
  view: DaemonView;
  manager: ManagerView;
  devices: DeviceView[];
  actions: Action[];
  configErrors: ConfigError[];
}

export function emptyManager(configPath: string): ManagerView {
  return {
    version: VERSION, state: 'starting', iommu: { enabled: false, kind: 'none', groupCount: 0, interruptRemapping: 'unknown' },
    checks: [], configPath, configError: null, managedCount: 0, boundCount: 0, lastReconcile: null,
  };
}

/** A broken config is reported in the result (as the daemon reports it), not thrown: nothing is configured then. */
export async function readDirectly(opts: Pick<CliOptions, 'root' | 'config'>): Promise<DirectRead> {
  const loaded = await loadConfig(opts.config, opts.root);
  const config = loaded.ok ? loaded.config : { path: opts.config, daemon: { ...DEFAULT_DAEMON_SETTINGS }, devices: [] };
  const configErrors = loaded.ok ? [] : loaded.errors;
  const [snapshot, owned] = await Promise.all([observe(opts.root), readOwned(opts.root)]);
  const { report, plan } = assess(config, snapshot, owned.state);
  // The same claim status and checks the daemon publishes after a reconcile (it runs this same assessment).
  const claims = await assessClaims(opts.root, { config, snapshot, verdicts: plan.verdicts, report, owned: owned.state });
  const view: DaemonView = {
    version: VERSION, configPath: opts.config, configErrors, report, snapshot, verdicts: plan.verdicts,
    requireIommu: config.daemon.requireIommu, lastReconcileUs: 0n, claims,
  };
  const managed = plan.verdicts.filter((v) => v.managed);
  const manager: ManagerView = {
    version: VERSION,
    state: managerState(view),
    iommu: { enabled: report.enabled, kind: report.kind, groupCount: report.groupCount, interruptRemapping: report.interruptRemapping },
    checks: withClaimChecks(report.checks, claims.checks),
    configPath: opts.config,
    configError: configErrors.length ? configErrors.map(formatConfigError).join('\n') : null,
    managedCount: managed.length,
    boundCount: managed.filter((v) => v.state === 'bound').length,
    lastReconcile: null,
  };
  return { view, manager, devices: deviceViews(snapshot, plan, claims.statuses), actions: plan.actions, configErrors };
}
