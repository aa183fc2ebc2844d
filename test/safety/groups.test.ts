import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { devicesText } from '../../src/cli/text.js';
import { deviceViews, groupViews } from '../../src/cli/views.js';
import { publishedState } from '../../src/daemon/publish.js';
import type { OwnedState } from '../../src/model.js';
import { AMD, amdHost, SEED } from '../fake/hosts.js';
import { PCH, pchGroup } from '../fake/layouts.js';
import { assessOn, verdict } from '../helpers/assess.js';
import { useFakeHosts } from '../helpers/fake-hosts.js';

const hostOf = useFakeHosts();

describe('group viability as the kernel judges it', () => {
  it('an LPC bridge on lpc_ich (normal header) makes its group not viable; the `groups` view agrees', async () => {
    const host = await hostOf(pchGroup());
    const { plan, snapshot } = await assessOn(host, `[[device]]\naddress = "${PCH.audio}"\n`);
    const v = verdict(plan, PCH.audio);
    expect(v.state).toBe('pending');
    expect(v.groupViable).toBe(false);
    expect(v.groupBlockers).toEqual([PCH.lpc, PCH.smbus]);
    expect(v.reason).toContain(`IOMMU group 11 is not viable for a VM while ${PCH.lpc} stays on lpc_ich, ${PCH.smbus} stays on i801_smbus`);
    expect(groupViews(snapshot).find((g) => g.id === 11)).toMatchObject({ viable: false });
  });

  it('an unbound host bridge does not block its group; a root port (header type 1) never does', async () => {
    const spec = pchGroup();
    spec.devices.find((d) => d.address === SEED.hostBridge)!.group = 1; // shares the GPU's group, unbound
    const host = await hostOf(spec);
    const { plan } = await assessOn(host, `[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n`);
    expect(verdict(plan, SEED.gpu)).toMatchObject({ state: 'pending', groupViable: true, groupBlockers: [] });
  });

  it('says EINVAL only for PCI-to-PCI bridges; a host or LPC bridge is refused for what it is', async () => {
    const host = await hostOf(pchGroup());
    const { plan } = await assessOn(host, `[[device]]\naddress = "${SEED.gpuRootPort}"\n[[device]]\naddress = "${PCH.lpc}"\n[[device]]\naddress = "${SEED.hostBridge}"\n`);
    expect(verdict(plan, SEED.gpuRootPort).reason).toBe('is a PCI-to-PCI bridge (header type 1): vfio-pci refuses it with EINVAL; pass through the devices behind it instead');
    expect(verdict(plan, PCH.lpc).reason).toBe("is the platform's ISA/LPC bridge (class 0601): the host needs it (firmware, SMBus, TPM, timers), so it is never passed through");
    expect(verdict(plan, SEED.hostBridge).reason).toContain("is the platform's host bridge (class 0600)");
    expect(plan.actions).toEqual([]);
  });
});

describe('release while a VM holds the group', () => {
  const owned: OwnedState = {
    devices: {
      [AMD.gpu]: { driver: 'vfio-pci', previousDriver: 'amdgpu', since: '2026-12-01T00:00:00.000Z' },
      [AMD.gpuAudio]: { driver: 'vfio-pci', previousDriver: 'snd_hda_intel', since: '2026-12-01T00:00:00.000Z' },
    },
  };
  const onlyGpu = `[daemon]\nimport_modprobe = false\n[[device]]\naddress = "${AMD.gpu}"\n`;

  it('dropping the HDMI audio while the GPU of its group is open by a VM holds it; released once the VM lets go', async () => {
    const spec = amdHost();
    for (const d of spec.devices) if (d.address === AMD.gpu || d.address === AMD.gpuAudio) d.override = 'vfio-pci';
    const host = await hostOf(spec);
    writeFileSync(join(host.deviceDir(AMD.gpu), 'enable'), '1\n');
    const held = await assessOn(host, onlyGpu, owned);
    expect(held.plan.actions).toEqual([]);
    expect(verdict(held.plan, AMD.gpuAudio)).toMatchObject({ state: 'host', managed: false });
    expect(verdict(held.plan, AMD.gpuAudio).reason).toBe(`dropped from config, but ${AMD.gpu} in the same IOMMU group 6 is open by a VM (enable = 1): held on vfio-pci until the VM lets go, then released`);

    // `list`/`plan` and D-Bus say which device a VM has open.
    const views = deviceViews(held.snapshot, held.plan);
    expect(views.find((d) => d.address === AMD.gpu)).toMatchObject({ state: 'bound', openByVm: true });
    expect(devicesText(views)).toMatch(new RegExp(`${AMD.gpu}.*bound, open by a VM`));
    const published = publishedState({
      version: '0', configPath: '', configErrors: [], report: null, snapshot: held.snapshot, verdicts: held.plan.verdicts, requireIommu: true, lastReconcileUs: 0n,
    });
    expect(published.devices.find((d) => d.Address === AMD.gpu)?.OpenByVm).toBe(true);
    expect(published.devices.find((d) => d.Address === AMD.gpuAudio)?.OpenByVm).toBe(false);

    writeFileSync(join(host.deviceDir(AMD.gpu), 'enable'), '0\n');
    const released = await assessOn(host, onlyGpu, owned);
    expect(released.plan.actions).toEqual([{ kind: 'release', address: AMD.gpuAudio, from: 'vfio-pci' }]);
  });
});
