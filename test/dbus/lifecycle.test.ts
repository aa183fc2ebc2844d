/** Connecting, owning the name (with the late-policy retry), closing, and losing the bus. */
import { afterEach, expect, it } from 'vitest';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBusService } from '../../src/dbus/index.js';
import type { BusHandlers, BusLog, BusService } from '../../src/dbus/types.js';
import { startPrivateBus, type PrivateBus } from '../helpers/private-bus.js';
import { busctl } from './clients.js';
import { state } from './fixtures.js';

const POLICY = fileURLToPath(new URL('../../data/dbus/org.pciepassthroughd.conf', import.meta.url));
const handlers: BusHandlers = { plan: async () => [], reconcile: async () => [], reload: async () => {} };

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function bus(policy: boolean): Promise<PrivateBus> {
  const b = await startPrivateBus({ policyFiles: policy ? [POLICY] : [] });
  cleanup.push(() => b.stop());
  return b;
}

async function service(address: string, extra: { log?: BusLog; requestNameRetryMs?: number } = {}): Promise<BusService> {
  const svc = await startBusService({ bus: { address }, handlers, initial: state(), ...extra });
  cleanup.push(() => svc.close());
  return svc;
}

function recordingLog() {
  const lines: string[] = [];
  const listeners: ((line: string) => void)[] = [];
  const add = (level: string) => (msg: string) => {
    const line = `${level}: ${msg}`;
    lines.push(line);
    for (const l of listeners) l(line);
  };
  return {
    lines,
    log: { info: add('info'), warn: add('warn'), error: add('error') } as BusLog,
    next: (re: RegExp) => new Promise<string>((resolve) => {
      const hit = lines.find((l) => re.test(l));
      if (hit) resolve(hit);
      else listeners.push((l) => re.test(l) && resolve(l));
    }),
  };
}

it('onLost fires when the bus dies; later updates are harmless', async () => {
  const b = await bus(true);
  const rec = recordingLog();
  const svc = await service(b.address, { log: rec.log });
  const lost = new Promise<Error>((resolve) => svc.onLost(resolve));
  await b.stop();
  const err = await lost;
  expect(err.message).toMatch(/connection to the bus .* was lost/);
  expect(() => svc.update(state({ devices: [] }))).not.toThrow();
  expect(() => svc.emitReconciled(1, 'ready')).not.toThrow();
  // a callback registered after the loss still hears about it
  await expect(new Promise<Error>((resolve) => svc.onLost(resolve))).resolves.toBe(err);
  expect(rec.lines.some((l) => l.startsWith('error: D-Bus: connection to the bus'))).toBe(true);
});

it('close() releases the name without reporting a loss, so another instance can own it', async () => {
  const b = await bus(true);
  const first = await startBusService({ bus: { address: b.address }, handlers, initial: state() });
  let lost = false;
  first.onLost(() => (lost = true));
  await first.close();
  first.onLost(() => (lost = true));
  const names = await busctl(b.address, ['list', '--acquired']);
  expect(names.stdout).not.toContain('org.pciepassthroughd');
  await service(b.address);
  const again = await busctl(b.address, ['get-property', 'org.pciepassthroughd', '/org/pciepassthroughd', 'org.pciepassthroughd.Manager1', 'State']);
  expect(again.stdout.trim()).toBe('s "ready"');
  expect(lost).toBe(false);
});

it('a second instance is refused while the first owns the name', async () => {
  const b = await bus(true);
  await service(b.address);
  await expect(service(b.address)).rejects.toThrow(/already owned by another process.*another pcie-passthroughd running/);
});

it('retries RequestName while the policy is missing and succeeds once it arrives', async () => {
  const b = await bus(false);
  const rec = recordingLog();
  const starting = service(b.address, { log: rec.log, requestNameRetryMs: 10_000 });
  await rec.next(/not allowed to own org\.pciepassthroughd yet/);
  copyFileSync(POLICY, join(b.policyDir, 'org.pciepassthroughd.conf')); // dbus-daemon picks it up by inotify
  await starting;
  const r = await busctl(b.address, ['get-property', 'org.pciepassthroughd', '/org/pciepassthroughd', 'org.pciepassthroughd.Manager1', 'Version']);
  expect(r.stdout.trim()).toBe('s "0.1.0-test"');
});

it('gives up after the retry time with an error that says what to install', async () => {
  const b = await bus(false);
  await expect(service(b.address, { requestNameRetryMs: 300 })).rejects.toThrow(
    /not allowed to own org\.pciepassthroughd .*install org\.pciepassthroughd\.conf into \/usr\/share\/dbus-1\/system\.d\//,
  );
});

it('fails fast with the address when no bus listens there', async () => {
  await expect(service('unix:path=/nonexistent/ppd-test.sock')).rejects.toThrow(/cannot connect to unix:path=\/nonexistent\/ppd-test\.sock.*is dbus running/);
});
