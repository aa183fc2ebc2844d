import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deviceFiles, findHolders, vmOfArgv } from '../../src/sysfs/holders.js';
import { AMD, SEED, amdHost, seedIntel } from '../fake/hosts.js';
import { addFakeProcess, removeFakeProcess, type HostSpec } from '../fake/tree.js';
import { DEVICE, devPath, getProperty, useDaemonOnDemand } from '../helpers/daemon-fixture.js';
import { writeConfig } from '../helpers/fake-hosts.js';
import { runCtl } from '../helpers/run.js';

const { host, start } = useDaemonOnDemand();

const QEMU_PVE = ['/usr/bin/kvm', '-id', '100', '-name', 'win10,debug-threads=on', '-device', 'vfio-pci,host=0000:0a:00.0'];

/** The NVIDIA GPU of the seed host with its DRM nodes and minor, and the processes that use it on a desktop. */
function nvidiaDesktop(): HostSpec {
  const spec = seedIntel();
  const gpu = spec.devices.find((d) => d.address === SEED.gpu)!;
  gpu.drm = ['card1', 'renderD129'];
  gpu.nvidiaMinor = 0;
  spec.devices.find((d) => d.address === SEED.igpu)!.drm = ['card0', 'renderD128'];
  spec.processes = [
    { pid: 977, comm: 'Xorg', argv: ['/usr/lib/xorg/Xorg', ':0'], files: ['/dev/dri/card0', '/dev/dri/card1', '/dev/nvidia0', '/dev/nvidiactl'] },
    { pid: 1203, comm: 'nvidia-persiste', argv: ['/usr/bin/nvidia-persistenced', '--user', 'nvidia-persistenced'], files: ['/dev/nvidiactl'] },
    { pid: 1500, comm: 'bash', argv: ['-bash'], files: ['/dev/pts/0'] },
  ];
  return spec;
}

describe('who holds a device (fake /proc/*/fd links)', () => {
  it('QEMU names its VM by -name guest=, -name or Proxmox -id', () => {
    expect(vmOfArgv(['qemu-system-x86_64', '-name', 'guest=win10,debug-threads=on'])).toBe('win10');
    expect(vmOfArgv(QEMU_PVE)).toBe('win10');
    expect(vmOfArgv(['/usr/bin/kvm', '-id', '101'])).toBe('VM 101');
    expect(vmOfArgv(['Xorg', ':0'])).toBeNull();
  });

  it('finds the holders of the DRM and NVIDIA nodes of one GPU, not those of another GPU', async () => {
    const h = await host(nvidiaDesktop());
    const gpu = { address: SEED.gpu, iommuGroup: 1, driver: 'nvidia' };
    expect(deviceFiles(h.root, gpu)).toEqual(['/dev/vfio/1', '/dev/dri/card1', '/dev/dri/renderD129', '/dev/nvidia0', '/dev/nvidiactl', '/dev/nvidia-modeset', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools']);
    const igpu = { address: SEED.igpu, iommuGroup: 2, driver: 'i915' };
    const found = findHolders(h.root, new Map([[SEED.gpu, deviceFiles(h.root, gpu)], [SEED.igpu, deviceFiles(h.root, igpu)]]));
    expect(found.get(SEED.gpu)!.map((x) => [x.pid, x.command, x.file])).toEqual([
      [977, 'Xorg', '/dev/dri/card1'], [977, 'Xorg', '/dev/nvidia0'], [977, 'Xorg', '/dev/nvidiactl'], [1203, 'nvidia-persiste', '/dev/nvidiactl'],
    ]);
    expect(found.get(SEED.igpu)!.map((x) => [x.pid, x.file])).toEqual([[977, '/dev/dri/card0']]);
  });

  it('pcie-passthroughctl who ADDRESS lists them (text and --json); nobody is said plainly', async () => {
    const spec = amdHost();
    spec.processes = [{ pid: 4242, comm: 'kvm', argv: QEMU_PVE, files: ['/dev/vfio/vfio', '/dev/vfio/6'] }];
    const h = await host(spec);
    const text = await runCtl(['--root', h.root, 'who', '0a:00.0'], h.env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^PID +COMMAND +VM +FILE\n4242 +kvm +win10 +\/dev\/vfio\/6$/m);
    const json = await runCtl(['--root', h.root, '--json', 'who', AMD.gpuAudio], h.env);
    expect(JSON.parse(json.stdout).holders).toEqual([{ pid: 4242, command: 'kvm', file: '/dev/vfio/6', vm: 'win10' }]);
    removeFakeProcess(h.root, 4242);
    const none = await runCtl(['--root', h.root, 'who', AMD.gpu], h.env);
    expect(none.stdout).toContain(`Nobody has ${AMD.gpu} open (looked for /dev/vfio/6)`);
    const bad = await runCtl(['--root', h.root, 'who', '0a:00'], h.env);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('is not a PCI address');
    const missingOperand = await runCtl(['--root', h.root, 'who'], h.env);
    expect(missingOperand.code).toBe(64);
  });

  it('the daemon names the QEMU process when a release waits for the VM (Reason on D-Bus, one journal line)', async () => {
    const h = await host(amdHost());
    // The GPU was bound by us earlier and is now dropped from config while the VM runs.
    mkdirSync(join(h.root, 'run/pcie-passthroughd'), { recursive: true });
    writeFileSync(join(h.root, 'run/pcie-passthroughd/state.json'), JSON.stringify({ devices: { [AMD.gpu]: { driver: 'vfio-pci', previousDriver: 'amdgpu', since: '2026-01-01T00:00:00.000Z' } } }));
    writeConfig(h, '[daemon]\nimport_modprobe = false\n');
    writeFileSync(join(h.deviceDir(AMD.gpu), 'enable'), '1\n');
    addFakeProcess(h.root, { pid: 4242, comm: 'kvm', argv: QEMU_PVE, files: ['/dev/vfio/vfio', '/dev/vfio/6'] });
    const { bus, daemon } = await start(h);
    const reason = String(await getProperty(bus.address, devPath(AMD.gpu), DEVICE, 'Reason'));
    expect(reason).toContain('it is released once the VM lets go; held by PID 4242 (kvm, win10) has /dev/vfio/6 open');
    await runCtl(['--bus', bus.address, 'reconcile'], h.env);
    expect(daemon.logs.filter((l) => l.msg === `${AMD.gpu}: held by PID 4242 (kvm, win10) has /dev/vfio/6 open`)).toHaveLength(1);
  });
});
