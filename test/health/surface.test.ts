/** Device health as users see it: pcie-passthroughctl list, the journal and D-Bus, on fake kernels. */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AMD, SEED, bootFramebufferOnGpu, deadGpuHost, navi10Host } from '../fake/hosts.js';
import type { FakeHost, HostSpec } from '../fake/tree.js';
import { DEVICE, devPath, getProperty, useDaemonOnDemand } from '../helpers/daemon-fixture.js';
import { writeConfig } from '../helpers/fake-hosts.js';
import { runCtl } from '../helpers/run.js';

const onDemand = useDaemonOnDemand();

async function host(spec: HostSpec, config: string): Promise<FakeHost> {
  const h = await onDemand.host(spec);
  writeConfig(h, config);
  return h;
}

const getProp = (path: string, prop: string): Promise<unknown> => getProperty(onDemand.bus.address, path, DEVICE, prop, true);

interface DeviceJson { address: string; state: string; reason: string; reset: string; resetMethods: string[] | null; health: { name: string; status: string; message: string }[] }

describe('device health in pcie-passthroughctl list', () => {
  it('a GPU that stopped answering is dead with the fix, and plan has nothing to do for it', async () => {
    const h = await host(deadGpuHost(), `[[device]]\naddress = "${AMD.gpu}"\n`);
    const list = await runCtl(['--root', h.root, 'list'], h.env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^${AMD.gpu} .* dead `, 'm'));
    expect(list.stdout).toContain(`${AMD.gpu}: dead: config space reads all 0xff`);
    expect(list.stdout).toContain('needs a power cycle or a bus reset');
    const plan = await runCtl(['--root', h.root, 'plan', '--json'], h.env);
    // (its HDMI audio, imported from modprobe.d ids=, still gets its override written)
    expect((JSON.parse(plan.stdout).actions as { address?: string }[]).filter((a) => a.address === AMD.gpu)).toEqual([]);
    expect(plan.code).toBe(1); // a managed device is not where the config wants it
    const metrics = await runCtl(['--root', h.root, 'metrics'], h.env);
    expect(metrics.stdout).toContain('pcie_passthroughd_managed_devices_by_state{state="dead"} 1');
  });

  it('shows the reset methods of every device and the reset-bug warning with its remedy', async () => {
    const h = await host(navi10Host(false), `[[device]]\naddress = "${AMD.gpu}"\n`);
    const list = await runCtl(['--root', h.root, 'list', '--json'], h.env);
    const devices = JSON.parse(list.stdout).devices as DeviceJson[];
    const gpu = devices.find((d) => d.address === AMD.gpu)!;
    expect(gpu).toMatchObject({ reset: 'bus', resetMethods: ['bus'] });
    expect(gpu.health.find((c) => c.name === 'reset')).toMatchObject({ status: 'warn' });
    expect(devices.find((d) => d.address === AMD.nvme)).toMatchObject({ reset: 'flr bus', health: [] });
    const text = await runCtl(['--root', h.root, 'list'], h.env);
    expect(text.stdout).toMatch(/ADDRESS +CLASS +ID +DRIVER +GROUP +RESET +STATE +NAME/);
    expect(text.stdout).toContain(`${AMD.gpu}: warn: reset: AMD Navi 10 GPUs do not come back from a VM reset`);
  });

  it('the boot framebuffer in the GPU BAR is reported with the GRUB fix', async () => {
    const h = await host(bootFramebufferOnGpu(), `[[device]]\naddress = "${SEED.gpu}"\n`);
    const text = await runCtl(['--root', h.root, 'list'], h.env);
    expect(text.stdout).toContain(`${SEED.gpu}: warn: boot-framebuffer: the firmware's boot framebuffer (BOOTFB at e0000000-e07e8fff in /proc/iomem) lies in BAR 1`);
    expect(text.stdout).toContain('add `initcall_blacklist=sysfb_init` to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, run `update-grub`, then reboot');
  });
});

describe('device health from the daemon (journal, D-Bus)', () => {
  it('a dead GPU: State dead on D-Bus, one warning in the journal, and no write to it on later reconciles', async () => {
    const h = await host(deadGpuHost(), `[[device]]\naddress = "${AMD.gpu}"\n`);
    const overrideFile = join(h.deviceDir(AMD.gpu), 'driver_override');
    const before = statSync(overrideFile).mtimeMs;
    const { bus, daemon } = await onDemand.start(h);
    expect(await getProp(devPath(AMD.gpu), 'State')).toBe('dead');
    expect(await getProp(devPath(AMD.gpu), 'Health')).toEqual([['config-space', 'fail', expect.stringContaining('needs a power cycle or a bus reset')]]);
    const reconcile = await runCtl(['--bus', bus.address, 'reconcile'], h.env);
    expect(reconcile.stdout).not.toContain(AMD.gpu);
    const deadLines = daemon.logs.filter((l) => l.msg.startsWith(`${AMD.gpu}: dead:`));
    expect(deadLines).toHaveLength(1);
    expect(deadLines[0]!.level).toBe(40); // pino warn
    expect(statSync(overrideFile).mtimeMs).toBe(before);
    expect(readFileSync(overrideFile, 'utf8')).toBe('(null)\n');
  });

  it('the boot framebuffer and reset warnings are published on D-Bus and logged once', async () => {
    const h = await host(bootFramebufferOnGpu(), `[[device]]\naddress = "${SEED.gpu}"\n`);
    const { bus, daemon } = await onDemand.start(h);
    const health = (await getProp(devPath(SEED.gpu), 'Health')) as [string, string, string][];
    expect(health.map(([name, status]) => [name, status])).toEqual([['reset', 'pass'], ['config-space', 'pass'], ['boot-framebuffer', 'warn']]);
    expect(await getProp(devPath(SEED.gpu), 'ResetMethod')).toBe('bus');
    expect(await getProp(devPath(SEED.gpu), 'Resettable')).toBe(true);
    await runCtl(['--bus', bus.address, 'reconcile'], h.env);
    expect(daemon.logs.filter((l) => l.msg.startsWith(`${SEED.gpu}: boot-framebuffer:`))).toHaveLength(1);
    const status = await runCtl(['--bus', bus.address, 'status'], h.env);
    expect(status.stdout).toContain(`${SEED.gpu}: warn: boot-framebuffer:`);
  });
});

describe('reset_method from the config, applied at claim time (fake kernel)', () => {
  it('is written before the bind, and a second apply does nothing', async () => {
    const h = await host(bootFramebufferOnGpu(), `[[device]]\naddress = "${SEED.gpuAudio}"\nreset_method = "flr"\n`);
    const first = await runCtl(['--root', h.root, 'apply', '--json'], h.env);
    const results = JSON.parse(first.stdout).results as { action: string; address: string; outcome: string }[];
    expect(results.filter((r) => r.address === SEED.gpuAudio).map((r) => [r.action, r.outcome])).toEqual([['set-reset-method', 'reset-method-set'], ['bind', 'bound']]);
    expect(readFileSync(join(h.deviceDir(SEED.gpuAudio), 'reset_method'), 'utf8')).toBe('flr\n');
    const second = await runCtl(['--root', h.root, 'apply'], h.env);
    expect(second.stdout).toMatch(/^Nothing to do\./);
  });

  it('device_specific on a Navi 10 with vendor-reset loaded: taken, and the reset-bug warning is gone', async () => {
    const h = await host(navi10Host(true), `[[device]]\naddress = "${AMD.gpu}"\nreset_method = "device_specific"\n`);
    const apply = await runCtl(['--root', h.root, 'apply'], h.env);
    expect(apply.stdout).toContain(`${AMD.gpu}: reset_method set to "device_specific"`);
    expect(readFileSync(join(h.deviceDir(AMD.gpu), 'reset_method'), 'utf8')).toBe('device_specific\n');
    const list = await runCtl(['--root', h.root, 'list', '--json'], h.env);
    const gpu = (JSON.parse(list.stdout).devices as DeviceJson[]).find((d) => d.address === AMD.gpu)!;
    expect(gpu.health.find((c) => c.name === 'reset')).toMatchObject({ status: 'pass' });
  });

  it('device_specific without vendor-reset: the kernel refuses it (EINVAL), said with the remedy, and the GPU is not bound', async () => {
    const spec = navi10Host(false);
    const gpu = spec.devices.find((d) => d.address === AMD.gpu)!;
    gpu.driver = 'amdgpu';
    const h = await host(spec, `[[device]]\naddress = "${AMD.gpu}"\nreset_method = "device_specific"\n`);
    const apply = await runCtl(['--root', h.root, 'apply'], h.env);
    expect(apply.stdout).toContain(`${AMD.gpu}: the kernel refused reset_method "device_specific" (EINVAL)`);
    expect(apply.stdout).toContain('`modprobe vendor-reset`');
    expect(apply.stdout).toContain(`${AMD.gpu}: not bound to vfio-pci: its configured reset_method could not be set`);
    expect(readFileSync(join(h.deviceDir(AMD.gpu), 'reset_method'), 'utf8')).toBe('bus\n');
    expect(apply.code).toBe(1);
  });
});
