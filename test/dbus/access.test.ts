/**
 * The daemon's own uid check: even when a local policy opens Reconcile/Reload to everyone, a
 * non-root caller is refused with AccessDenied and the handler never runs.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBusService } from '../../src/dbus/index.js';
import type { BusService } from '../../src/dbus/types.js';
import { startPrivateBus, type PrivateBus } from '../helpers/private-bus.js';
import { gdbusCall } from './clients.js';
import { state } from './fixtures.js';

const POLICY = fileURLToPath(new URL('../../data/dbus/org.pciepassthroughd.conf', import.meta.url));
const OPEN_POLICY = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><policy context="mandatory"><allow send_destination="org.pciepassthroughd"/></policy></busconfig>
`;

let bus: PrivateBus;
let svc: BusService;
let tmp: string;
const calls: string[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ppd-policy-'));
  const open = join(tmp, 'local-open.conf'); // mandatory rules apply after every default/user rule
  writeFileSync(open, OPEN_POLICY);
  bus = await startPrivateBus({ policyFiles: [POLICY, open] });
  svc = await startBusService({
    bus: { address: bus.address },
    initial: state(),
    handlers: {
      plan: async () => [],
      reconcile: async () => (calls.push('reconcile'), []),
      reload: async () => void calls.push('reload'),
    },
  });
});

afterAll(async () => {
  await svc?.close();
  await bus?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

it('refuses Reconcile and Reload from uid 65534 itself, naming the uid', async () => {
  for (const method of ['Reconcile', 'Reload']) {
    const r = await gdbusCall(bus.address, '/org/pciepassthroughd', `org.pciepassthroughd.Manager1.${method}`, [], { asNobody: true });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(`org.freedesktop.DBus.Error.AccessDenied: ${method} is root only; refused for uid 65534`);
  }
  expect(calls).toEqual([]);
});

it('still runs them for root', async () => {
  const r = await gdbusCall(bus.address, '/org/pciepassthroughd', 'org.pciepassthroughd.Manager1.Reload');
  expect(r.exitCode).toBe(0);
  expect(calls).toEqual(['reload']);
});
