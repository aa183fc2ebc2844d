/**
 * Issue 11, items 2, 3, 5 and 6, against the daemon bundle on a fake kernel and a private bus: a config
 * that is a FIFO or endless never wedges it; oversized input is refused; the config directory deleted
 * and recreated is watched again; a config that vanishes, empties or is written with a pause does not
 * release devices at once — the last good one stays in force until the file is back or a reload confirms.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { busctl } from '../dbus/clients.js';
import { SEED } from '../fake/hosts.js';
import { type RunningDaemon } from '../helpers/daemon.js';
import { MANAGER, MANAGER_PATH, NAME, useDaemonFixture } from '../helpers/daemon-fixture.js';
import { CONFIG } from '../helpers/fake-hosts.js';
import { sleep, until as untilWithin } from '../helpers/poll.js';
import { runCtl } from '../helpers/run.js';

const TWO = `[[device]]\naddress = "${SEED.spareNic}"\n\n[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n`;

const fx = useDaemonFixture();
const { started, writeConfig, driverOf } = fx;
const configDir = () => join(fx.host.root, 'etc/pcie-passthroughd');
const configFile = () => join(fx.host.root, CONFIG);
const getProp = (prop: string): Promise<unknown> => fx.getProp(MANAGER_PATH, MANAGER, prop);
const until = <T>(probe: () => Promise<T>, ok: (v: T) => boolean): Promise<T> => untilWithin(probe, ok, 15_000);

const released = (d: RunningDaemon, address: string) => d.logs.some((l) => l.msg.startsWith(`${address}: returned to`) || l.msg.startsWith(`${address}: released`));

it('a config replaced by a FIFO is refused and reported; the daemon answers, SIGHUP and a fixed file work, SIGTERM ends it', async () => {
  writeConfig(TWO);
  const d = await started();
  expect(driverOf(SEED.spareNic)).toBe('vfio-pci');
  rmSync(configFile());
  execFileSync('mkfifo', [configFile()]);
  await d.waitForLog((l) => l.msg.includes('is a FIFO (named pipe), not a regular file'));
  expect(await until(() => getProp('ConfigError'), (v) => v !== '')).toMatch(/FIFO/);
  const reconcile = await busctl(fx.bus.address, ['call', NAME, MANAGER_PATH, MANAGER, 'Reconcile']);
  expect(reconcile.exitCode, reconcile.stderr).toBe(0);
  // The CLI reads the same file: it reports, it does not hang.
  const plan = await runCtl(['--root', fx.host.root, 'plan'], fx.host.env);
  expect(plan.stderr).toMatch(/FIFO/);
  d.child.kill('SIGHUP');
  await d.waitForLog((l) => l.msg === 'SIGHUP: re-reading the config');
  expect(driverOf(SEED.spareNic)).toBe('vfio-pci'); // last good config still in force
  rmSync(configFile());
  writeConfig(`[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n`);
  await d.waitForLog((l) => l.msg.startsWith(`${SEED.spareNic}: returned to`), 20_000);
  expect(await until(() => getProp('ConfigError'), (v) => v === '')).toBe('');
  expect(await d.stop('SIGTERM')).toBe(0);
}, 60_000);

it('a symlink to /dev/urandom and a file over 1 MiB are refused; nothing changes', async () => {
  writeConfig(TWO);
  const d = await started();
  rmSync(configFile());
  symlinkSync('/dev/urandom', configFile());
  await d.waitForLog((l) => l.msg.includes('is a character device, not a regular file'));
  rmSync(configFile());
  writeFileSync(configFile(), TWO + '#'.repeat(1024 * 1024));
  await d.waitForLog((l) => l.msg.includes('the limit is 1048576 bytes'));
  expect(driverOf(SEED.spareNic)).toBe('vfio-pci');
  expect(released(d, SEED.spareNic)).toBe(false);
}, 60_000);

it('the config directory deleted and recreated: later edits are seen, each of them', async () => {
  writeConfig(`[[device]]\naddress = "${SEED.spareNic}"\n`);
  const d = await started();
  rmSync(configDir(), { recursive: true });
  await d.waitForLog((l) => l.msg.includes('was removed; watching for it to come back'));
  mkdirSync(configDir());
  writeConfig(`[[device]]\naddress = "${SEED.spareNic}"\n\n[[device]]\naddress = "${SEED.gpu}"\n`);
  await d.waitForLog((l) => l.msg.startsWith(`${SEED.gpu}: bound to vfio-pci`), 20_000);
  writeConfig(`[[device]]\naddress = "${SEED.gpu}"\n`);
  await d.waitForLog((l) => l.msg.startsWith(`${SEED.spareNic}: returned to igb`), 20_000);
  writeConfig(`[[device]]\naddress = "${SEED.gpu}"\n\n[[device]]\naddress = "${SEED.spareNic}"\n`);
  await until(async () => driverOf(SEED.spareNic), (v) => v === 'vfio-pci');
  expect(driverOf(SEED.spareNic)).toBe('vfio-pci');
}, 60_000);

it('deleted, emptied or truncated-then-written: the last good config stays in force; reload confirms an empty one', async () => {
  writeConfig(TWO);
  const d = await started();
  // An editor that truncates, pauses, then writes.
  const fd = openSync(configFile(), 'w');
  await d.waitForLog((l) => l.msg.includes('is empty: keeping the last good config (2 device entries) in force'), 20_000);
  expect(await until(() => getProp('ConfigError'), (v) => v !== '')).toMatch(/is empty: keeping the last good config/);
  writeSync(fd, TWO);
  closeSync(fd);
  await until(() => getProp('ConfigError'), (v) => v === '');
  // Deleted: kept, with a warning, until it is back.
  rmSync(configFile());
  await d.waitForLog((l) => l.msg.includes('is gone: keeping the last good config (2 device entries) in force'), 20_000);
  writeConfig(TWO);
  await until(() => getProp('ConfigError'), (v) => v === '');
  expect(released(d, SEED.spareNic) || released(d, SEED.gpu)).toBe(false);
  expect([driverOf(SEED.spareNic), driverOf(SEED.gpu)]).toEqual(['vfio-pci', 'vfio-pci']);
  // The admin empties it on purpose and confirms with a reload: now the devices are released.
  writeConfig('');
  await d.waitForLog((l) => l.msg.includes('is empty: keeping the last good config'), 20_000);
  const reload = await busctl(fx.bus.address, ['call', NAME, MANAGER_PATH, MANAGER, 'Reload']);
  expect(reload.exitCode, reload.stderr).toBe(0);
  expect(driverOf(SEED.spareNic)).toBe('igb');
}, 60_000);

it('a writer that pauses 400 ms mid-file: the half-written file is never applied', async () => {
  writeConfig(TWO);
  const d = await started();
  const tmp = configFile();
  const fd = openSync(tmp, 'w');
  writeSync(fd, `[[device]]\naddress = "${SEED.spareNic}"\n`);
  await sleep(400);
  writeSync(fd, `\n[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n`);
  closeSync(fd);
  // Any later save shows the daemon has read the finished file.
  const t = join(configDir(), '.tmp');
  writeFileSync(t, TWO + '# saved again\n');
  renameSync(t, configFile());
  await d.waitForLog((l) => /^reconcile: .*config change/.test(l.msg) && d.logs.filter((x) => /^reconcile: .*config/.test(x.msg)).length >= 1, 20_000);
  await sleep(1500);
  expect(released(d, SEED.gpu)).toBe(false);
  expect(driverOf(SEED.gpu)).toBe('vfio-pci');
}, 60_000);
