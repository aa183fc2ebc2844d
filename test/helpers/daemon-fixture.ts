/**
 * The daemon bundle on a fake host and a private system bus, set up before each test and torn down
 * after it even when the test fails: daemon killed first, then the bus stopped, then the tree removed.
 */
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { busctl } from '../dbus/clients.js';
import { seedIntel } from '../fake/hosts.js';
import { buildHost, tempTreeDir, type FakeHost, type HostSpec } from '../fake/tree.js';
import { startDaemon, type RunningDaemon } from './daemon.js';
import { driverOf, hostPool, writeConfig, writeConfigAtomically } from './fake-hosts.js';
import { startPrivateBus, type PrivateBus } from './private-bus.js';

export const POLICY = join(process.cwd(), 'data/dbus/org.pciepassthroughd.conf');
export const NAME = 'org.pciepassthroughd';
export const MANAGER_PATH = '/org/pciepassthroughd';
export const MANAGER = 'org.pciepassthroughd.Manager1';
export const DEVICE = 'org.pciepassthroughd.Device1';
export const devPath = (address: string): string => `/org/pciepassthroughd/devices/pci_${address.replace(/[:.]/g, '_')}`;

/** One property read by busctl (as root, or as nobody), its value decoded from busctl's JSON. */
export async function getProperty(busAddress: string, path: string, iface: string, prop: string, asNobody = false): Promise<unknown> {
  const r = await busctl(busAddress, ['--json=short', 'get-property', NAME, path, iface, prop], { asNobody });
  if (r.exitCode !== 0) throw new Error(`get-property ${prop}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { data: unknown }).data;
}

export const startBus = (): Promise<PrivateBus> => startPrivateBus({ policyFiles: [POLICY] });

export interface DaemonFixtureOptions {
  /** The host spec built before each test (default: the seed Intel host). */
  seed?: () => HostSpec;
  /** Builds the host instead of `seed` (e.g. a large generated one). */
  build?: (dir: string) => Promise<FakeHost>;
  /** A config written before each test. */
  config?: string;
  /** Runs after each test before the daemon is killed (e.g. to release a fake kernel lock it waits on). */
  beforeStop?: (host: FakeHost) => void;
}

export interface DaemonFixture {
  readonly host: FakeHost;
  readonly bus: PrivateBus;
  /** The daemon last started by `started`, killed after the test. */
  readonly daemon: RunningDaemon | null;
  /** Starts the daemon (killed after the test) without waiting for it. */
  start(extraArgs?: string[]): RunningDaemon;
  /** Starts the daemon and waits for its `ready` line. */
  started(extraArgs?: string[], readyMs?: number): Promise<RunningDaemon>;
  writeConfig(text: string): void;
  writeConfigAtomically(text: string): void;
  driverOf(address: string): string | null;
  getProp(path: string, iface: string, prop: string, asNobody?: boolean): Promise<unknown>;
  /** A new bus in place of a stopped one (the old one is stopped if it is not). */
  restartBus(): Promise<PrivateBus>;
  /** Replaces this test's host by one built from `spec`. */
  rebuildHost(spec: HostSpec): Promise<FakeHost>;
}

async function stopAll(daemon: RunningDaemon | null, bus: PrivateBus | null): Promise<void> {
  try {
    await daemon?.stop('SIGKILL');
  } finally {
    await bus?.stop();
  }
}

export function useDaemonFixture(opts: DaemonFixtureOptions = {}): DaemonFixture {
  let host: FakeHost | null = null;
  let bus: PrivateBus | null = null;
  let daemon: RunningDaemon | null = null;
  const need = <T>(v: T | null, what: string): T => {
    if (v === null) throw new Error(`no ${what}: use the fixture inside a test`);
    return v;
  };
  const build = (): Promise<FakeHost> => (opts.build ? opts.build(tempTreeDir()) : buildHost(tempTreeDir(), (opts.seed ?? seedIntel)()));

  beforeEach(async () => {
    host = await build();
    bus = await startBus();
    if (opts.config !== undefined) writeConfig(host, opts.config);
  });

  afterEach(async () => {
    const [d, b, h] = [daemon, bus, host];
    daemon = null;
    bus = null;
    host = null;
    try {
      if (h && opts.beforeStop) opts.beforeStop(h);
    } finally {
      try {
        await stopAll(d, b);
      } finally {
        h?.cleanup();
      }
    }
  });

  return {
    get host() {
      return need(host, 'host');
    },
    get bus() {
      return need(bus, 'bus');
    },
    get daemon() {
      return daemon;
    },
    start(extraArgs = []) {
      daemon = startDaemon(need(host, 'host'), need(bus, 'bus').address, extraArgs);
      return daemon;
    },
    async started(extraArgs = [], readyMs) {
      const d = startDaemon(need(host, 'host'), need(bus, 'bus').address, extraArgs);
      daemon = d;
      await d.waitForLog((l) => l.msg === 'ready', readyMs);
      return d;
    },
    writeConfig: (text) => writeConfig(need(host, 'host'), text),
    writeConfigAtomically: (text) => writeConfigAtomically(need(host, 'host'), text),
    driverOf: (address) => driverOf(need(host, 'host'), address),
    getProp: (path, iface, prop, asNobody = false) => getProperty(need(bus, 'bus').address, path, iface, prop, asNobody),
    async restartBus() {
      await bus?.stop();
      bus = await startBus();
      return bus;
    },
    async rebuildHost(spec) {
      host?.cleanup();
      host = null;
      host = await buildHost(tempTreeDir(), spec);
      return host;
    },
  };
}

/**
 * For files whose tests build their own hosts and start the daemon only in some of them: `host`
 * builds one, `start` brings up a bus and the daemon on it; all of it is gone after each test.
 */
export function useDaemonOnDemand(): {
  host(spec: HostSpec): Promise<FakeHost>;
  start(host: FakeHost): Promise<{ bus: PrivateBus; daemon: RunningDaemon }>;
  /** The bus `start` brought up in this test. */
  readonly bus: PrivateBus;
} {
  const pool = hostPool();
  let bus: PrivateBus | null = null;
  let daemon: RunningDaemon | null = null;
  afterEach(async () => {
    const [d, b] = [daemon, bus];
    daemon = null;
    bus = null;
    try {
      await stopAll(d, b);
    } finally {
      pool.cleanup();
    }
  });
  return {
    host: (spec) => pool.build(spec),
    get bus() {
      if (bus === null) throw new Error('no bus: call start first');
      return bus;
    },
    async start(host) {
      const b = await startBus();
      bus = b;
      daemon = startDaemon(host, b.address);
      await daemon.waitForLog((l) => l.msg === 'ready');
      return { bus: b, daemon };
    },
  };
}
