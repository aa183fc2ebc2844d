import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { SEED, seedIntel } from '../fake/hosts.js';
import { buildHost, tempTreeDir, type FakeHost } from '../fake/tree.js';
import { runCtl } from '../helpers/run.js';

const hosts: FakeHost[] = [];
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup();
});

function put(h: FakeHost, path: string, text: string): void {
  mkdirSync(join(h.root, path, '..'), { recursive: true });
  writeFileSync(join(h.root, path), text);
}

it('list names the guests of each device, check reports each guest device and exits 2 on a failing one', async () => {
  const h = await buildHost(tempTreeDir(), seedIntel());
  hosts.push(h);
  put(h, '/etc/pve/.version', '1\n');
  put(h, '/etc/pve/qemu-server/100.conf', `hostpci0: ${SEED.gpu.slice(5, -2)},pcie=1,x-vga=1\nname: win11\nonboot: 1\n`);
  mkdirSync(join(h.root, 'etc/libvirt/qemu/autostart'), { recursive: true });
  copyFileSync(new URL('./fixtures/win10.xml', import.meta.url), join(h.root, 'etc/libvirt/qemu/win10.xml'));

  const list = await runCtl(['--root', h.root, 'list'], h.env);
  expect(list.code).toBe(0);
  expect(list.stdout).toContain(`${SEED.gpu}: used by VM 100 (win11, onboot), libvirt domain win10\n`);
  expect(list.stdout).toContain(`${SEED.gpuAudio}: used by VM 100 (win11, onboot), libvirt domain win10\n`);
  const json = JSON.parse((await runCtl(['--root', h.root, 'list', '--json'], h.env)).stdout) as { devices: { address: string; usedBy: unknown[] }[] };
  expect(json.devices.find((d) => d.address === SEED.gpu)?.usedBy).toEqual([
    { source: 'pve', id: '100', name: 'win11', onboot: true },
    { source: 'libvirt', id: '4dea22b3-1d52-d8f3-2516-782e98ab3fa0', name: 'win10', onboot: false },
  ]);

  const check = await runCtl(['--root', h.root, 'check'], h.env);
  // win10's 0000:07:10.2 does not exist on this host.
  expect(check.code).toBe(2);
  expect(check.stdout).toMatch(/FAIL +guest libvirt\/4dea22b3-1d52-d8f3-2516-782e98ab3fa0 0000:07:10\.2 +libvirt domain win10 wants 0000:07:10\.2 \(interface type='hostdev', \/etc\/libvirt\/qemu\/win10\.xml:44\), but no device is present there/);
  expect(check.stdout).toMatch(/WARN +guest pve\/100 0000:01:00\.0 +VM 100 \(win11, onboot\) wants 0000:01:00\.0 \(hostpci0, \/etc\/pve\/qemu-server\/100\.conf:1\): 0000:01:00\.0 is on /);
});
