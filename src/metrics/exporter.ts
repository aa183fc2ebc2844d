/** The daemon's metrics textfile: counts reconciles and rewrites the file after each one. */
import type { DaemonView } from '../daemon/publish.js';
import { managerState } from '../daemon/publish.js';
import { DEFAULT_DAEMON_SETTINGS } from '../model.js';
import { renderMetrics, type MetricsInput } from './render.js';
import { resolveTextfile, writeTextfile } from './textfile.js';

export function metricsFromView(view: DaemonView, reconcile: MetricsInput['reconcile']): MetricsInput {
  return {
    version: view.version,
    state: managerState(view),
    configError: view.configErrors.length > 0,
    report: view.report,
    snapshot: view.snapshot,
    verdicts: view.verdicts,
    reconcile,
  };
}

export interface TextfileExporter {
  /** The `metrics_textfile` setting of the config in force. */
  configure(setting: string): void;
  reconciled(view: DaemonView, failed: boolean): Promise<void>;
}

export function textfileExporter(root: string, log: { info(m: string): void; warn(m: string): void }): TextfileExporter {
  let setting = DEFAULT_DAEMON_SETTINGS.metricsTextfile;
  let total = 0;
  let failures = 0;
  let lastPath: string | null | undefined;
  let lastProblem = '';
  // Writes run one after another so an older text never lands after a newer one.
  let chain = Promise.resolve();
  return {
    configure(s) {
      setting = s;
    },
    reconciled(view, failed) {
      total += 1;
      if (failed) failures += 1;
      const text = renderMetrics(metricsFromView(view, { lastUs: view.lastReconcileUs, total, failures }));
      chain = chain.then(async () => {
        const path = await resolveTextfile(root, setting);
        if (!path) {
          if (path !== lastPath) log.info(setting ? `not writing metrics: the directory of ${setting} does not exist (metrics_textfile)` : 'not writing metrics (metrics_textfile = "")');
          lastPath = path;
          return;
        }
        try {
          await writeTextfile(root, path, text);
          if (path !== lastPath) log.info(`writing metrics to ${path} after every reconcile`);
          lastPath = path;
          lastProblem = '';
        } catch (e) {
          const problem = `cannot write the metrics textfile ${path}: ${(e as Error).message}`;
          if (problem !== lastProblem) log.warn(problem);
          lastProblem = problem;
        }
      });
      return chain;
    },
  };
}
