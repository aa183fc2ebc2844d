import { readFileSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyActions, type ActionResult } from '../../src/apply/apply.js';
import { updateOwned } from '../../src/apply/owned.js';
import { parseConfig } from '../../src/config/index.js';
import { assess, observe } from '../../src/engine.js';
import type { Action, OwnedState, Plan } from '../../src/model.js';
import { createSysfsWriter } from '../../src/sysfs/writer.js';
import { SEED, seedIntel } from '../fake/hosts.js';
import { buildHost, tempTreeDir, useHost, type FakeHost } from '../fake/tree.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

const FAST = { unbindMs: 5_000, probeMs: 5_000, readBackMs: 300, modprobeMs: 5_000 };
const GPU_ONLY = `[[device]]\naddress = "${SEED.gpu}"\n`;

async function gpuHostWhereVfioProbeFails(): Promise<FakeHost> {
  const spec = seedIntel();
  spec.drivers['vfio-pci']!.loaded = true;
  const host = await buildHost(tempTreeDir(), spec);
  cleanups.push(() => host.cleanup());
  cleanups.push(useHost(host));
  // vfio_pci_probe fails for the GPU (e.g. -ENOMEM); drivers_probe itself still reports success.
  host.updateKernel((k) => {
    k.failProbe[SEED.gpu] = { driver: 'vfio-pci', code: 'ENOMEM' };
  });
  return host;
}

async function planFor(host: FakeHost, toml: string, owned: OwnedState): Promise<Plan> {
  const parsed = parseConfig(toml, '/etc/pcie-passthroughd/config.toml');
  if (!parsed.ok) throw new Error('config');
  return assess(parsed.config, await observe(host.root), owned).plan;
}

const overrideOf = (host: FakeHost) => readFileSync(join(host.deviceDir(SEED.gpu), 'driver_override'), 'utf8').trim();
const driverOf = (host: FakeHost) => {
  try {
    return basename(readlinkSync(join(host.deviceDir(SEED.gpu), 'driver')));
  } catch {
    return null;
  }
};
const binds = (p: Plan): Action[] => p.actions.filter((a) => a.kind === 'bind');

describe('a bind that fails after driver_override was written', () => {
  it('rolls the override back and reprobes, so the host driver has the device again', async () => {
    const host = await gpuHostWhereVfioProbeFails();
    const port = createSysfsWriter(host.root);
    const [result] = await applyActions(port, binds(await planFor(host, GPU_ONLY, { devices: {} })), FAST) as [ActionResult];
    expect(result.outcome).toBe('failed');
    expect(result.message).toContain(`${SEED.gpu}: still unbound`);
    expect(result.message).toContain('driver_override rolled back (now on nvidia)');
    expect(result.overrideLeft).toBeUndefined();
    expect(overrideOf(host)).toBe('(null)');
    expect(driverOf(host)).toBe('nvidia');
  });

  it('when the rollback fails too, the device is recorded and a later config drop clears the override', async () => {
    const host = await gpuHostWhereVfioProbeFails();
    const real = createSysfsWriter(host.root);
    // The one injected fault: the driver_override write of the rollback fails (the kernel can return ENOMEM).
    const failingClear = { ...real, clearOverride: () => Promise.reject(Object.assign(new Error('write failed'), { code: 'ENOMEM' })) };
    const results = await applyActions(failingClear, binds(await planFor(host, GPU_ONLY, { devices: {} })), FAST);
    expect(results[0]!.message).toContain('clearing driver_override failed too (ENOMEM): only vfio-pci can bind it until it is cleared, so it is recorded');
    expect(overrideOf(host)).toBe('vfio-pci');
    const owned = updateOwned({ devices: {} }, results, new Date('2026-12-01T00:00:00Z'));
    expect(owned.devices[SEED.gpu]).toEqual({ driver: 'vfio-pci', previousDriver: 'nvidia', since: '2026-12-01T00:00:00.000Z' });

    // Without the record, the dropped device was a plain host device with no reason; it now says why.
    const unrecorded = await planFor(host, '', { devices: {} });
    expect(unrecorded.verdicts.find((v) => v.address === SEED.gpu)?.reason).toContain('driver_override is set to vfio-pci, so no other driver can bind it (now unbound)');

    const dropped = await planFor(host, '', owned);
    expect(dropped.actions).toEqual([{ kind: 'release', address: SEED.gpu, from: 'vfio-pci' }]);
    const [release] = await applyActions(real, dropped.actions, FAST) as [ActionResult];
    expect(release.outcome).toBe('released');
    expect(overrideOf(host)).toBe('(null)');
    expect(driverOf(host)).toBe('nvidia');
  });
});
