import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { noIommu, SEED, seedIntel } from '../fake/hosts.js';
import { buildHost, tempTreeDir, type FakeHost } from '../fake/tree.js';
import { runCtl } from '../helpers/run.js';

const hosts: FakeHost[] = [];
afterEach(() => {
  for (const h of hosts.splice(0)) h.cleanup();
});

async function host(spec = seedIntel()): Promise<FakeHost> {
  const h = await buildHost(tempTreeDir(), spec);
  hosts.push(h);
  return h;
}

function writeConfig(h: FakeHost, text: string): void {
  mkdirSync(join(h.root, 'etc/pcie-passthroughd'), { recursive: true });
  writeFileSync(join(h.root, 'etc/pcie-passthroughd/config.toml'), text);
}

const driverOf = (h: FakeHost, address: string): string | null => {
  try {
    return basename(readlinkSync(join(h.deviceDir(address), 'driver')));
  } catch {
    return null;
  }
};

interface DeviceJson { address: string; state: string; reason: string; driver: string | null; managed: boolean }

describe('pcie-passthroughctl on a seed-like host (fake kernel)', () => {
  it('apply moves the GPU and its HDMI audio to vfio-pci; list shows them bound; a second apply does nothing', async () => {
    const h = await host();
    writeConfig(h, `[[device]]\naddress = "01:00.0"\nfunctions = "all"\n`);
    const plan = await runCtl(['--root', h.root, 'plan', '--json'], h.env);
    expect(plan.code).toBe(0);
    expect(JSON.parse(plan.stdout).actions.map((a: { kind: string }) => a.kind)).toEqual(['load-driver', 'bind', 'bind']);
    expect(driverOf(h, SEED.gpu)).toBe('nvidia'); // plan changed nothing

    const first = await runCtl(['--root', h.root, 'apply'], h.env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`${SEED.gpu}: bound to vfio-pci (was nvidia)`);
    expect(first.stdout).toContain(`${SEED.gpuAudio}: bound to vfio-pci (was snd_hda_intel)`);
    expect(driverOf(h, SEED.gpu)).toBe('vfio-pci');
    expect(driverOf(h, SEED.gpuAudio)).toBe('vfio-pci');
    expect(readFileSync(join(h.deviceDir(SEED.gpu), 'driver_override'), 'utf8')).toBe('vfio-pci\n');

    const list = await runCtl(['--root', h.root, 'list', '--json'], h.env);
    const devices = JSON.parse(list.stdout).devices as DeviceJson[];
    expect(devices.filter((d) => d.managed).map((d) => [d.address, d.state, d.driver])).toEqual([
      [SEED.gpu, 'bound', 'vfio-pci'], [SEED.gpuAudio, 'bound', 'vfio-pci'],
    ]);
    const groupOfGpu = devices.find((d) => d.address === SEED.gpu) as unknown as { groupViable: boolean };
    expect(groupOfGpu.groupViable).toBe(true);

    const second = await runCtl(['--root', h.root, 'apply', '--json'], h.env);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout).results).toEqual([]);
  });

  it('the root-disk controller and the uplink NIC configured by mistake stay on their drivers, blocked with the reason', async () => {
    const h = await host();
    writeConfig(h, `[[device]]\naddress = "${SEED.sata}"\n\n[[device]]\naddress = "${SEED.nic}"\n\n[[device]]\naddress = "${SEED.spareNic}"\n`);
    const r = await runCtl(['--root', h.root, 'apply', '--json'], h.env);
    expect(r.code).toBe(1); // not every configured device could be bound
    const out = JSON.parse(r.stdout) as { devices: DeviceJson[] };
    const sata = out.devices.find((d) => d.address === SEED.sata);
    expect(sata?.state).toBe('blocked');
    expect(sata?.reason).toMatch(/in use by the host \(.*mounted on \/.*\); set allow_in_use = true/);
    expect(out.devices.find((d) => d.address === SEED.nic)?.reason).toMatch(/is up/);
    expect(driverOf(h, SEED.sata)).toBe('ahci');
    expect(driverOf(h, SEED.nic)).toBe('igb');
    // the spare NIC in the same config is bound all the same
    expect(driverOf(h, SEED.spareNic)).toBe('vfio-pci');
  });

  it('check exits 2 on a host without IOMMU, with the fix in its message; plan binds nothing and says why', async () => {
    const h = await host(noIommu());
    const r = await runCtl(['--root', h.root, 'check', '--json'], h.env);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout) as { status: string; iommu: { enabled: boolean }; checks: { name: string; status: string; message: string }[] };
    expect(out.status).toBe('fail');
    expect(out.iommu.enabled).toBe(false);
    const dma = out.checks.find((c) => c.name === 'dma-remapping');
    expect(dma?.status).toBe('fail');
    expect(dma?.message).toMatch(/Fix: /);
    writeConfig(h, `[[device]]\naddress = "${SEED.gpu}"\n`);
    const apply = await runCtl(['--root', h.root, 'apply', '--json'], h.env);
    expect(apply.code).toBe(1);
    expect(JSON.parse(apply.stdout).results).toEqual([]);
    expect(JSON.parse(apply.stdout).devices[0].reason).toContain('IOMMU is off');
  });

  it('check exits 1 on a healthy host that only warns (vfio-pci not loaded yet)', async () => {
    const h = await host();
    const before = await runCtl(['--root', h.root, 'check'], h.env);
    expect(before.code).toBe(1); // vfio-pci not loaded yet: a warning
    expect(before.stdout).toMatch(/^IOMMU on \(intel-vt-d, \d+ groups\)/);
  });

  it('a broken config: errors with file:line:column on stderr, exit 2, nothing changed', async () => {
    const h = await host();
    writeConfig(h, `[[device]]\naddress = "01:00.0"\nfunction = "all"\n`);
    const r = await runCtl(['--root', h.root, 'apply'], h.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\/etc\/pcie-passthroughd\/config\.toml:3:1: .*function.*functions/);
    expect(driverOf(h, SEED.gpu)).toBe('nvidia');
  });

  it('usage errors exit 64; --version prints the version', async () => {
    expect((await runCtl(['frobnicate'])).code).toBe(64);
    expect((await runCtl(['--bogus', 'list'])).code).toBe(64);
    const v = await runCtl(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^pcie-passthroughctl \d+\.\d+\.\d+/);
  });

  it('groups shows members and viability', async () => {
    const h = await host();
    const r = await runCtl(['--root', h.root, 'groups', '--json'], h.env);
    const groups = JSON.parse(r.stdout).groups as { id: number; viable: boolean; members: { address: string; bridge: boolean }[] }[];
    const gpuGroup = groups.find((g) => g.members.some((m) => m.address === SEED.gpu));
    expect(gpuGroup?.viable).toBe(false); // nvidia + snd_hda_intel hold it
    expect(gpuGroup?.members.find((m) => m.address === SEED.gpuRootPort)?.bridge).toBe(true);
  });
});
