/**
 * Issue 11, item 9: vfio-pci missing and not loadable. modprobe runs, and its failure is reported, once
 * per change of state — not again for every uevent; a reload tries again.
 */
import { expect, it } from 'vitest';
import { busctl } from '../dbus/clients.js';
import { SEED, seedIntel } from '../fake/hosts.js';
import { type RunningDaemon } from '../helpers/daemon.js';
import { useDaemonFixture } from '../helpers/daemon-fixture.js';

const fx = useDaemonFixture({
  seed: () => {
    const spec = seedIntel();
    spec.drivers['vfio-pci'] = { ...spec.drivers['vfio-pci']!, loaded: false, loadable: false };
    spec.etcFiles = { ...spec.etcFiles, 'pcie-passthroughd/config.toml': `[[device]]\naddress = "${SEED.spareNic}"\n\n[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n` };
    return spec;
  },
});

const warnings = (d: RunningDaemon) => d.logs.filter((l) => l.level >= 40).map((l) => l.msg);

it('5 uevents with vfio-pci unloadable: modprobe warned about once, the devices reported once', async () => {
  const d = await fx.started();
  const atStart = warnings(d);
  expect(atStart.filter((m) => m.startsWith('modprobe vfio-pci failed'))).toHaveLength(1);
  for (let i = 0; i < 5; i++) {
    d.uevent('change', SEED.usb);
    await d.waitForLog((l) => l.msg === `reconcile: uevent change ${SEED.usb}` && d.logs.filter((x) => x.msg === l.msg).length > i);
  }
  // One more run after the last uevent, so every one of them has been handled.
  d.uevent('change', SEED.sata);
  await d.waitForLog((l) => l.msg === `reconcile: uevent change ${SEED.sata}`);
  const plan = await busctl(fx.bus.address, ['call', 'org.pciepassthroughd', '/org/pciepassthroughd', 'org.pciepassthroughd.Manager1', 'Plan']);
  expect(plan.exitCode).toBe(0);
  expect(warnings(d)).toEqual(atStart);
  // The devices are still reported failed, with the reason.
  const state = await busctl(fx.bus.address, ['get-property', 'org.pciepassthroughd', `/org/pciepassthroughd/devices/pci_${SEED.spareNic.replace(/[:.]/g, '_')}`, 'org.pciepassthroughd.Device1', 'State', 'Reason']);
  expect(state.stdout).toMatch(/s "failed"\ns ".*modprobe vfio-pci failed/);
  // root asks again: modprobe is tried (and reported) once more.
  d.child.kill('SIGHUP');
  await d.waitForLog((l) => l.msg.startsWith('modprobe vfio-pci failed') && warnings(d).filter((m) => m.startsWith('modprobe vfio-pci failed')).length === 2);
}, 60_000);
