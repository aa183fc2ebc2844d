/**
 * The service under hostile callers (issue 11): per-connection and total limits on waiting Plan()
 * calls, no work for a caller that hung up, argument checks on Introspect/Ping, and Set answered as
 * docs/dbus.md says. A local policy opens everything, so the daemon's own checks are what is tested.
 */
import { spawnSync } from 'node:child_process';
import { Message, sessionBus, type MessageBus } from 'dbus-next';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { PLAN_LIMITS } from '../../src/dbus/index.js';
import type { PlanRow } from '../../src/dbus/types.js';
import type { PrivateBus } from '../helpers/private-bus.js';
import { busctl, gdbusCall } from './clients.js';
import { startOpenService, type OpenService } from './open-service.js';

const NAME = 'org.pciepassthroughd';
const MGR = '/org/pciepassthroughd';

let open: OpenService;
let bus: PrivateBus;
let planCalls = 0;
let release: () => void = () => {};
let held: Promise<void> = Promise.resolve();
const ROWS: PlanRow[] = [['0000:01:00.0', 'bind', 'vfio-pci']];
const clients: MessageBus[] = [];

beforeAll(async () => {
  open = await startOpenService({
    plan: async () => {
      planCalls++;
      await held;
      return ROWS;
    },
    reconcile: async () => [],
    reload: async () => {},
  });
  bus = open.bus;
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await open?.stop();
});

beforeEach(() => {
  planCalls = 0;
  held = Promise.resolve();
});

function client(): MessageBus {
  const c = sessionBus({ busAddress: bus.address });
  clients.push(c);
  return c;
}

function plan(c: MessageBus): Promise<{ ok: true; body: unknown[] } | { ok: false; name: string; text: string }> {
  return c.call(new Message({ destination: NAME, path: MGR, interface: 'org.pciepassthroughd.Manager1', member: 'Plan' })).then(
    (reply) => ({ ok: true as const, body: reply?.body ?? [] }),
    (err: { type?: string; text?: string }) => ({ ok: false as const, name: err.type ?? '', text: err.text ?? String(err) }),
  );
}

it(`one connection may have ${PLAN_LIMITS.perConnection} Plan() calls waiting; more are refused at once with LimitsExceeded`, async () => {
  held = new Promise((resolve) => (release = resolve));
  const c = client();
  const answers = Array.from({ length: PLAN_LIMITS.perConnection + 3 }, () => plan(c));
  const refused = await Promise.all(answers.slice(PLAN_LIMITS.perConnection));
  for (const r of refused) {
    expect(r).toMatchObject({ ok: false, name: 'org.freedesktop.DBus.Error.LimitsExceeded' });
  }
  // Another connection is not starved by the first one.
  const other = plan(client());
  release();
  for (const r of await Promise.all(answers.slice(0, PLAN_LIMITS.perConnection))) expect(r).toEqual({ ok: true, body: [ROWS] });
  expect(await other).toEqual({ ok: true, body: [ROWS] });
  // The slots are free again.
  expect(await plan(c)).toEqual({ ok: true, body: [ROWS] });
});

it('a Plan() call whose caller hung up before the daemon got to it costs no work', async () => {
  // gdbus runs while this process (the service) is blocked: it sends Plan, gives up after 1 s and exits;
  // only then does the service see the call.
  const r = spawnSync('gdbus', ['call', '--address', bus.address, '--dest', NAME, '--object-path', MGR, '--method', 'org.pciepassthroughd.Manager1.Plan', '--timeout', '1'], { encoding: 'utf8' });
  expect(r.status).not.toBe(0);
  // Let the service read and handle the queued call, then prove it is still answering.
  expect(await plan(client())).toEqual({ ok: true, body: [ROWS] });
  expect(planCalls).toBe(1);
});

it('Introspect and Ping refuse arguments with InvalidArgs', async () => {
  for (const [iface, member] of [['org.freedesktop.DBus.Introspectable', 'Introspect'], ['org.freedesktop.DBus.Peer', 'Ping'], ['org.freedesktop.DBus.Peer', 'GetMachineId']]) {
    const r = await busctl(bus.address, ['call', NAME, MGR, iface as string, member as string, 's', 'surplus'], { asNobody: true });
    expect(r.exitCode, `${member}: ${r.stdout}`).not.toBe(0);
    expect(r.stderr).toMatch(/takes no arguments/);
  }
  const ok = await busctl(bus.address, ['call', NAME, MGR, 'org.freedesktop.DBus.Peer', 'Ping'], { asNobody: true });
  expect(ok.exitCode).toBe(0);
});

it('Properties.Set: AccessDenied for a non-root caller (as docs/dbus.md says), PropertyReadOnly for root', async () => {
  const args = ['org.pciepassthroughd.Manager1', 'State', '<"failed">'];
  const nobody = await gdbusCall(bus.address, MGR, 'org.freedesktop.DBus.Properties.Set', args, { asNobody: true });
  expect(nobody.stderr).toContain('org.freedesktop.DBus.Error.AccessDenied');
  expect(nobody.stderr).toContain('uid 65534');
  const root = await gdbusCall(bus.address, MGR, 'org.freedesktop.DBus.Properties.Set', args);
  expect(root.stderr).toContain('org.freedesktop.DBus.Error.PropertyReadOnly');
  const after = await busctl(bus.address, ['get-property', NAME, MGR, 'org.pciepassthroughd.Manager1', 'State']);
  expect(after.stdout.trim()).toBe('s "ready"');
});
