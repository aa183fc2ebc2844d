/**
 * The daemon's own uid check: even when a local policy opens Reconcile/Reload to everyone, a
 * non-root caller is refused with AccessDenied and the handler never runs.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { gdbusCall } from './clients.js';
import { startOpenService, type OpenService } from './open-service.js';

let open: OpenService;
const calls: string[] = [];

beforeAll(async () => {
  open = await startOpenService({
    plan: async () => [],
    reconcile: async () => (calls.push('reconcile'), []),
    reload: async () => void calls.push('reload'),
  });
});

afterAll(async () => {
  await open?.stop();
});

it('refuses Reconcile and Reload from uid 65534 itself, naming the uid', async () => {
  for (const method of ['Reconcile', 'Reload']) {
    const r = await gdbusCall(open.bus.address, '/org/pciepassthroughd', `org.pciepassthroughd.Manager1.${method}`, [], { asNobody: true });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(`org.freedesktop.DBus.Error.AccessDenied: ${method} is root only; refused for uid 65534`);
  }
  expect(calls).toEqual([]);
});

it('still runs them for root', async () => {
  const r = await gdbusCall(open.bus.address, '/org/pciepassthroughd', 'org.pciepassthroughd.Manager1.Reload');
  expect(r.exitCode).toBe(0);
  expect(calls).toEqual(['reload']);
});
