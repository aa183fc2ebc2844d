import { describe, expect, it } from 'vitest';
import { busctl, monitorSignals } from '../dbus/clients.js';
import { SEED } from '../fake/hosts.js';
import { type RunningDaemon } from '../helpers/daemon.js';
import { DEVICE, devPath, MANAGER, MANAGER_PATH, NAME, useDaemonFixture } from '../helpers/daemon-fixture.js';
import { until } from '../helpers/poll.js';
import { runCtl } from '../helpers/run.js';

const fx = useDaemonFixture();
const { started, writeConfig, writeConfigAtomically, driverOf, getProp } = fx;

const reconciles = (d: RunningDaemon, reason: RegExp): number => d.logs.filter((l) => /^reconcile: /.test(l.msg) && reason.test(l.msg)).length;

describe('pcie-passthroughd on a private bus and a fake kernel', () => {
  it('binds at start, then real clients read the same states: properties, GetManagedObjects, Plan', async () => {
    writeConfig(`[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n`);
    const d = await started();
    expect(driverOf(SEED.gpu)).toBe('vfio-pci');
    expect(driverOf(SEED.gpuAudio)).toBe('vfio-pci');
    // one journal line per binding, device address first
    expect(d.logs.filter((l) => l.msg.startsWith(`${SEED.gpu}: bound to vfio-pci (was nvidia)`))).toHaveLength(1);

    expect(await getProp(MANAGER_PATH, MANAGER, 'State')).toBe('ready');
    expect(await getProp(MANAGER_PATH, MANAGER, 'BoundCount')).toBe(2);
    expect(await getProp(MANAGER_PATH, MANAGER, 'IommuEnabled')).toBe(true);
    expect(await getProp(devPath(SEED.gpu), DEVICE, 'State')).toBe('bound');
    expect(await getProp(devPath(SEED.gpu), DEVICE, 'Driver')).toBe('vfio-pci');
    expect(await getProp(devPath(SEED.sata), DEVICE, 'State')).toBe('host');

    const objects = await busctl(fx.bus.address, ['--json=short', 'call', NAME, MANAGER_PATH, 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects']);
    const tree = (JSON.parse(objects.stdout) as { data: [Record<string, Record<string, Record<string, { data: unknown }>>>] }).data[0];
    expect(tree[devPath(SEED.gpuAudio)]?.[DEVICE]?.State?.data).toBe('bound');
    expect(Object.keys(tree).length).toBe(fx.host.spec.devices.length);

    const plan = await busctl(fx.bus.address, ['--json=short', 'call', NAME, MANAGER_PATH, MANAGER, 'Plan'], { asNobody: true });
    expect(plan.exitCode).toBe(0);
    expect((JSON.parse(plan.stdout) as { data: [unknown[]] }).data[0]).toEqual([]);

    // the CLI asks the daemon, not sysfs
    const status = await runCtl(['--bus', fx.bus.address, 'status', '--json'], fx.host.env);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).manager.state).toBe('ready');
    expect(JSON.parse(status.stdout).source).toBe('daemon');
  });

  it('non-root users can read but Reconcile() and Reload() are refused with AccessDenied, nothing changed', async () => {
    await started();
    writeConfig(`[[device]]\naddress = "${SEED.spareNic}"\n`); // would bind on the next reconcile
    expect(await getProp(MANAGER_PATH, MANAGER, 'ManagedCount', true)).toBe(0);
    const refused = await busctl(fx.bus.address, ['call', NAME, MANAGER_PATH, MANAGER, 'Reconcile'], { asNobody: true });
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toMatch(/Access denied|AccessDenied/i);
    const reload = await busctl(fx.bus.address, ['call', NAME, MANAGER_PATH, MANAGER, 'Reload'], { asNobody: true });
    expect(reload.exitCode).not.toBe(0);
    expect(driverOf(SEED.spareNic)).toBe('igb');
    // root may
    const ok = await busctl(fx.bus.address, ['--json=short', 'call', NAME, MANAGER_PATH, MANAGER, 'Reload']);
    expect(ok.exitCode).toBe(0);
    expect(driverOf(SEED.spareNic)).toBe('vfio-pci');
  });

  it('config edits (atomic rename, in-place write) are applied once each; a broken config changes nothing and is reported; fixing it recovers', async () => {
    writeConfig(`# nothing yet\n`);
    const d = await started();
    const before = reconciles(d, /config/);

    writeConfigAtomically(`[[device]]\naddress = "${SEED.spareNic}"\n`);
    await d.waitForLog((l) => l.msg.startsWith(`${SEED.spareNic}: bound to vfio-pci`));
    expect(driverOf(SEED.spareNic)).toBe('vfio-pci');
    await new Promise((r) => setTimeout(r, 600));
    expect(reconciles(d, /config/) - before).toBe(1);

    writeConfig(`[[device]]\naddress = "${SEED.spareNic}"\nallow_in_use = "yes"\n`);
    const error = await d.waitForLog((l) => /config\.toml:3:\d+: /.test(l.msg));
    expect(error.level).toBeGreaterThanOrEqual(50);
    const configError = await until(() => getProp(MANAGER_PATH, MANAGER, 'ConfigError'), (v) => v !== '');
    expect(configError).toMatch(/config\.toml:3:\d+: .*allow_in_use/);
    expect(await getProp(MANAGER_PATH, MANAGER, 'State')).toBe('degraded');
    expect(driverOf(SEED.spareNic)).toBe('vfio-pci'); // the last good config stays in force

    writeConfig(`[[device]]\naddress = "${SEED.gpu}"\n`);
    await d.waitForLog((l) => l.msg.startsWith(`${SEED.gpu}: bound to vfio-pci`));
    expect(await until(() => getProp(MANAGER_PATH, MANAGER, 'ConfigError'), (v) => v === '')).toBe('');
    // dropped from config: given back to its host driver (on_remove = "release" by default)
    await d.waitForLog((l) => l.msg.startsWith(`${SEED.spareNic}: returned to igb`));
    expect(driverOf(SEED.spareNic)).toBe('igb');
  });

  it('hotplug: a configured id appearing is bound and its object announced with InterfacesAdded; removal removes it', async () => {
    writeConfig(`[[device]]\nid = "8086:10d3"\n`);
    const d = await started();
    const monitor = await monitorSignals(fx.bus.address);
    try {
      const address = '0000:06:00.0';
      fx.host.addDevice({ address, parent: SEED.spareNicRootPort, vendor: 0x8086, device: 0x10d3, classCode: 0x020000, driver: 'e1000e', group: 20 });
      d.uevent('add', address);
      d.uevent('bind', address, { DRIVER: 'e1000e' });
      await d.waitForLog((l) => l.msg.startsWith(`${address}: bound to vfio-pci (was e1000e)`));
      const seen = await monitor.waitFor((s) => s.member === 'InterfacesAdded' && JSON.stringify(s.payload).includes(devPath(address)));
      expect(seen.filter((s) => s.member === 'InterfacesAdded')).toHaveLength(1); // not the initial population
      expect(await getProp(devPath(address), DEVICE, 'State')).toBe('bound');

      fx.host.removeDevice(address);
      d.uevent('remove', address);
      await monitor.waitFor((s) => s.member === 'InterfacesRemoved' && JSON.stringify(s.payload).includes(devPath(address)));
    } finally {
      await monitor.stop();
    }
  });

  it('SIGHUP re-reads the config; SIGTERM exits 0, releases the name and leaves devices bound', async () => {
    const d = await started();
    writeConfig(`[[device]]\naddress = "${SEED.spareNic}"\n`);
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => l.msg.startsWith(`${SEED.spareNic}: bound to vfio-pci`));
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(driverOf(SEED.spareNic)).toBe('vfio-pci');
    const names = await busctl(fx.bus.address, ['list', '--no-pager']);
    expect(names.stdout).not.toContain(NAME);
  });

  it('losing the bus: exits non-zero so systemd restarts it; restarted, it finds everything already right', async () => {
    writeConfig(`[[device]]\naddress = "${SEED.spareNic}"\n`);
    const d = await started();
    await fx.bus.stop();
    expect(await d.exited).not.toBe(0);
    await fx.restartBus();
    const again = await started();
    expect(again.logs.some((l) => l.msg.includes('bound to'))).toBe(false); // idempotent restart
    expect(await getProp(devPath(SEED.spareNic), DEVICE, 'State')).toBe('bound');
  });

  it('pcie-passthroughctl reload/reconcile go through the daemon; with no daemon they say so (69) and status reads directly', async () => {
    writeConfig(`[[device]]\naddress = "${SEED.spareNic}"\n`);
    const none = await runCtl(['--bus', fx.bus.address, 'reconcile'], fx.host.env);
    expect(none.code).toBe(69);
    expect(none.stderr).toMatch(/pcie-passthroughd is not running/);
    const direct = await runCtl(['--root', fx.host.root, '--bus', fx.bus.address, 'status'], fx.host.env);
    expect(direct.code).toBe(3);
    expect(direct.stderr).toMatch(/the daemon is not running .*reading the devices directly/);
    expect(direct.stdout).toContain(`${SEED.spareNic}: bind to vfio-pci`);
    expect(driverOf(SEED.spareNic)).toBe('igb');

    await started();
    writeConfig(`[[device]]\naddress = "${SEED.spareNic}"\n\n[[device]]\naddress = "${SEED.gpu}"\n`);
    const r = await runCtl(['--bus', fx.bus.address, 'reload'], fx.host.env);
    expect(r.code).toBe(0);
    expect(driverOf(SEED.gpu)).toBe('vfio-pci');
    const again = await runCtl(['--bus', fx.bus.address, 'reconcile', '--json'], fx.host.env);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).results).toEqual([]);
    writeConfig(`[[device]]\naddress = 1\n`);
    const bad = await runCtl(['--bus', fx.bus.address, 'reload'], fx.host.env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/config\.toml:2:\d+/);
  });
});
