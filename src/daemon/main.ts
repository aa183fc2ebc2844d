import { parseArgs } from 'node:util';
import { guestJournal } from '../guests/journal.js';
import { busError, startBusService, type BusService, type BusTarget } from '../dbus/index.js';
import { createLogger, type LogFormat } from '../log/logger.js';
import { DEFAULT_CONFIG_PATH, under } from '../paths.js';
import { createLockedReader } from '../sysfs/bounded-read.js';
import { createSysfsWriter, stopWriter } from '../sysfs/writer.js';
import { VERSION } from '../version.js';
import { watchConfigFile } from '../watch/config-watch.js';
import { startSchedule, type Schedule } from '../watch/schedule.js';
import { watchUevents } from '../watch/uevents.js';
import { Daemon } from './daemon.js';
import { sdNotify } from './notify.js';
import { publishedState } from './publish.js';
import { textfileExporter } from '../metrics/exporter.js';

const USAGE = `Usage: pcie-passthroughd [--root DIR] [--config FILE] [--bus system|session|none|ADDRESS]
                         [--log-format auto|journal|json|pretty] [--log-level LEVEL] [--udevadm CMD]

Binds the PCI devices named in the config to vfio-pci and keeps them there; status on D-Bus.
SIGHUP re-reads the config; SIGTERM stops (devices stay as they are).`;

function busTarget(bus: string): BusTarget | null {
  if (bus === 'none') return null;
  if (bus === 'system' || bus === 'session') return bus;
  return { address: bus };
}

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        root: { type: 'string', default: '/' },
        config: { type: 'string', default: DEFAULT_CONFIG_PATH },
        bus: { type: 'string', default: 'system' },
        'log-format': { type: 'string', default: 'auto' },
        'log-level': { type: 'string', default: 'info' },
        // The uevent source; tests substitute a stand-in that replays captured events.
        udevadm: { type: 'string', default: 'udevadm' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'V', default: false },
      },
    }));
  } catch (e) {
    process.stderr.write(`pcie-passthroughd: ${(e as Error).message}\n${USAGE}\n`);
    return 64;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`pcie-passthroughd ${VERSION}\n`);
    return 0;
  }
  const root = values.root ?? '/';
  const log = createLogger({ format: (values['log-format'] ?? 'auto') as LogFormat, level: values['log-level'] ?? 'info' });
  log.info(`pcie-passthroughd ${VERSION} starting (root ${root}, config ${values.config ?? DEFAULT_CONFIG_PATH})`);

  let schedule: Schedule | null = null;
  let scheduled = '';
  const armSchedule = (expression: string): void => {
    if (expression === scheduled) return;
    schedule?.stop();
    try {
      schedule = startSchedule(expression, () => daemon.queue.trigger({ kind: 'schedule' }));
      scheduled = expression;
    } catch (e) {
      log.warn(`periodic check disabled: ${(e as Error).message}`);
    }
  };
  let daemonStarted = false;
  const lockedReader = createLockedReader();
  const metrics = textfileExporter(root, { info: (m) => log.info(m), warn: (m) => log.warn(m) });
  const daemon: Daemon = new Daemon({
    root,
    configPath: values.config ?? DEFAULT_CONFIG_PATH,
    version: VERSION,
    log,
    port: createSysfsWriter(root),
    lockedReader,
    notify: (fields) => sdNotify(fields).catch((e: unknown) => log.warn(`sd_notify failed: ${(e as Error).message}`)),
    // The drift check follows check_schedule across reloads (armed once the first reconcile is done).
    onConfigLoaded: (c) => {
      metrics.configure(c.daemon.metricsTextfile);
      if (daemonStarted) armSchedule(c.daemon.checkSchedule);
    },
    afterReconcile: [({ view, result }) => metrics.reconciled(view, result.results.some((r) => r.outcome === 'failed')), guestJournal(log)],
    onReconcileError: () => void metrics.reconciled(daemon.view(), true),
  });

  // Subscribe to uevents before the first scan, so nothing that happens in between is missed.
  const uevents = watchUevents({ command: [values.udevadm ?? 'udevadm', 'monitor', '--kernel', '--property', '--subsystem-match=pci'] });
  uevents.on('uevent', (e) => {
    if (!daemonStarted) return;
    daemon.queue.trigger({ kind: 'uevent', action: e.action, address: e.props.PCI_SLOT_NAME ?? '?' });
  });
  uevents.on('down', (d) => log.warn(`uevent watcher down (${d.reason}); retrying in ${Math.round(d.retryInMs / 1000)} s`));
  uevents.on('restart', () => {
    log.info('uevent watcher listening again; rescanning');
    if (daemonStarted) daemon.queue.trigger({ kind: 'uevent-restart' });
  });
  if (!(await uevents.whenReady(5000))) {
    log.warn('udevadm monitor is not listening; hotplug is seen by the periodic check until it is');
  }

  await daemon.start();
  daemonStarted = true;
  armSchedule(daemon.checkSchedule);

  let bus: BusService | null = null;
  const target = busTarget(values.bus ?? 'system');
  if (target) {
    try {
      bus = await startBusService({
        bus: target,
        initial: publishedState(daemon.view()),
        log: { info: (m) => log.info(m), warn: (m) => log.warn(m), error: (m) => log.error(m) },
        handlers: {
          plan: () => daemon.planRows(),
          reconcile: () => daemon.reconcileNow(),
          reload: async () => {
            await daemon.reloadNow();
            const problem = daemon.hasConfigErrors();
            if (problem) throw busError('InvalidConfig', problem);
          },
        },
      });
      daemon.attachBus(bus);
      bus.onLost((err) => {
        // A daemon nobody can ask is worse than a restart: systemd's Restart=on-failure brings us back.
        log.error(`lost the D-Bus connection (${err.message}); exiting so systemd restarts the service`);
        void shutdown(1);
      });
    } catch (e) {
      log.error(`cannot publish on D-Bus (${(e as Error).message}); exiting so systemd retries`);
      await uevents.stop();
      await daemon.queue.stop();
      return 1;
    }
  }

  const configWatch = watchConfigFile(under(root, values.config ?? DEFAULT_CONFIG_PATH), (change) => daemon.queue.trigger({ kind: 'config', change }), {
    onError: (e) => log.warn(`config watcher: ${e.message}`),
    onDirectory: (event) => (event === 'gone'
      ? log.warn(`config watcher: the directory of ${values.config ?? DEFAULT_CONFIG_PATH} was removed; watching for it to come back`)
      : log.info(`config watcher: the directory of ${values.config ?? DEFAULT_CONFIG_PATH} is back; watching it again`)),
  });

  let stopping = false;
  const shutdown = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('stopping (devices stay as they are)');
    await sdNotify({ stopping: true }).catch(() => undefined);
    schedule?.stop();
    await uevents.stop();
    await configWatch.close();
    await daemon.queue.stop();
    await bus?.close().catch(() => undefined);
    stopWriter();
    lockedReader.stop();
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGHUP', () => {
    log.info('SIGHUP: re-reading the config');
    daemon.queue.trigger({ kind: 'reload' });
  });

  await configWatch.ready;
  await sdNotify({ ready: true, status: undefined }).catch((e: unknown) => log.warn(`sd_notify failed: ${(e as Error).message}`));
  log.info('ready');
  return new Promise<number>(() => undefined);
}
