import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SEED, seedIntel } from '../fake/hosts.js';
import { useFakeHosts } from '../helpers/fake-hosts.js';
import { runCtl } from '../helpers/run.js';

const hostOf = useFakeHosts();

describe('--root confines module loading', () => {
  it('apply --root never runs the modprobe on PATH (the host\'s): it refuses with a clear message and binds nothing', async () => {
    const host = await hostOf(seedIntel());
    mkdirSync(join(host.root, 'etc/pcie-passthroughd'), { recursive: true });
    writeFileSync(join(host.root, 'etc/pcie-passthroughd/config.toml'), `[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n`);
    // A stand-in for the host's modprobe, first on PATH: it records being run.
    const spyDir = join(host.root, '.spy-bin');
    const spyLog = join(host.root, '.spy-log');
    mkdirSync(spyDir);
    writeFileSync(join(spyDir, 'modprobe'), `#!/bin/sh\necho "$@" >> '${spyLog}'\nexit 0\n`);
    chmodSync(join(spyDir, 'modprobe'), 0o755);
    const env: Record<string, string> = { ...host.env, PATH: `${spyDir}:${process.env.PATH ?? '/usr/bin:/bin'}`, PCIE_PASSTHROUGHD_ROOT_MODPROBE: '' };

    const r = await runCtl(['--root', host.root, 'apply'], env);
    expect(existsSync(spyLog)).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`not loading vfio-pci under --root ${host.root}: modprobe would load it into the running kernel`);
    expect(r.stdout).toContain(`${SEED.gpu}: not bound`);
    expect(readFileSync(join(host.deviceDir(SEED.gpu), 'driver_override'), 'utf8')).toBe('(null)\n');

    // With a loader for the tree (the fake kernel's modprobe), the same apply binds.
    const ok = await runCtl(['--root', host.root, 'apply'], host.env);
    expect(ok.code).toBe(0);
    expect(existsSync(spyLog)).toBe(false);
    expect(existsSync(join(host.root, 'sys/bus/pci/drivers/vfio-pci', SEED.gpu))).toBe(true);
  });
});
