/**
 * Issue 14 against the daemon bundle on a fake kernel and a private bus: a Proxmox VE guest that starts at
 * boot names the spare NIC and the root disk's SATA controller; with follow_guests = "onboot" the NIC is
 * bound, the controller refused with both names, Device1.UsedBy and the guest checks are published, and
 * the journal says it. Dropping the NIC from the guest gives it back at the next reconcile.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { busctl } from '../dbus/clients.js';
import { SEED } from '../fake/hosts.js';
import { DEVICE, devPath as devicePath, NAME, useDaemonFixture } from '../helpers/daemon-fixture.js';
import { runCtl } from '../helpers/run.js';

const fx = useDaemonFixture();
const { driverOf } = fx;
const get = fx.getProp;

function put(path: string, text: string): void {
  mkdirSync(join(fx.host.root, path, '..'), { recursive: true });
  writeFileSync(join(fx.host.root, path), text);
}

const VM_100 = (withNic: boolean) => [
  'boot: order=scsi0',
  ...(withNic ? [`hostpci0: ${SEED.spareNic.slice(5)},pcie=1`] : []),
  `hostpci1: ${SEED.sata}`,
  'memory: 4096',
  'name: win11',
  'onboot: 1',
  '',
  '[before-nic]',
  `hostpci0: ${SEED.gpu}`,
  '',
].join('\n');

it('follow_guests = "onboot": the guest\'s NIC is bound, the root disk controller refused naming both, UsedBy and the checks published', async () => {
  put('/etc/pcie-passthroughd/config.toml', '[daemon]\nfollow_guests = "onboot"\n');
  put('/etc/pve/.version', '1\n');
  put('/etc/pve/qemu-server/100.conf', VM_100(true));
  const daemon = await fx.started();

  expect(driverOf(SEED.spareNic)).toBe('vfio-pci');
  expect(driverOf(SEED.sata)).toBe('ahci');
  // Only the current config counts: the snapshot's GPU is left alone.
  expect(driverOf(SEED.gpu)).not.toBe('vfio-pci');

  expect(await get(devicePath(SEED.spareNic), DEVICE, 'UsedBy')).toEqual([['pve', '100', 'win11', true]]);
  expect(await get(devicePath(SEED.spareNic), DEVICE, 'State')).toBe('bound');
  expect(await get(devicePath(SEED.sata), DEVICE, 'State')).toBe('blocked');
  const reason = String(await get(devicePath(SEED.sata), DEVICE, 'Reason'));
  expect(reason).toContain('VM 100 (win11) (hostpci1) at /etc/pve/qemu-server/100.conf:3 asks for it');
  expect(reason).toContain('sda2 mounted on /');

  const checks = (await get('/org/pciepassthroughd', 'org.pciepassthroughd.Manager1', 'Checks')) as [string, string, string][];
  const guestChecks = checks.filter(([name]) => name.startsWith('guest'));
  expect(guestChecks.map(([name, status]) => [name, status])).toEqual([
    [`guest pve/100 ${SEED.spareNic}`, 'pass'],
    [`guest pve/100 ${SEED.sata}`, 'fail'],
  ]);
  expect(daemon.logs.some((l) => l.msg.startsWith(`fail: VM 100 (win11, onboot) wants ${SEED.sata}`) && l.msg.includes('used by the host'))).toBe(true);
  const status = await runCtl(['--root', fx.host.root, '--bus', fx.bus.address, 'status'], fx.host.env);
  expect(status.stdout).toContain(`${SEED.spareNic}: used by VM 100 (win11, onboot)\n`);
  expect(status.stdout).toContain(`fail: VM 100 (win11, onboot) wants ${SEED.sata} (hostpci1, /etc/pve/qemu-server/100.conf:3)`);

  // The guest gives the NIC up: level-triggered, the next reconcile returns it and clears UsedBy.
  put('/etc/pve/qemu-server/100.conf', VM_100(false));
  const r = await busctl(fx.bus.address, ['call', NAME, '/org/pciepassthroughd', 'org.pciepassthroughd.Manager1', 'Reconcile']);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(driverOf(SEED.spareNic)).toBe('igb');
  expect(await get(devicePath(SEED.spareNic), DEVICE, 'UsedBy')).toEqual([]);
}, 60_000);

it('an unmounted /etc/pve (pmxcfs not up yet) does not block the start; it is reported and nothing is released', async () => {
  put('/etc/pcie-passthroughd/config.toml', '[daemon]\nfollow_guests = "all"\n');
  mkdirSync(join(fx.host.root, 'etc/pve'), { recursive: true });
  await fx.started();
  const checks = (await get('/org/pciepassthroughd', 'org.pciepassthroughd.Manager1', 'Checks')) as [string, string, string][];
  expect(checks.find(([name]) => name === 'guests pve')).toEqual(['guests pve', 'warn', "/etc/pve is empty: pmxcfs is not mounted (yet); its guests' devices are not known now (nothing is released meanwhile)"]);
}, 60_000);
