/** The daemon keeps the early claims current and reports how each device was claimed (fake kernel, private bus). */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SEED, seedIntel } from '../fake/hosts.js';
import { devPath, DEVICE, useDaemonFixture } from '../helpers/daemon-fixture.js';
import { runCtl } from '../helpers/run.js';

const fx = useDaemonFixture();
const writeConfig = fx.writeConfigAtomically;
const claimsFile = (): string => join(fx.host.root, 'etc/pcie-passthroughd/early/claims');
const claimLines = (): string[] => (existsSync(claimsFile()) ? readFileSync(claimsFile(), 'utf8').split('\n').filter((l) => /^(claim|skip) /.test(l)) : []);
const prop = (address: string, name: string): Promise<unknown> => fx.getProp(devPath(address), DEVICE, name);

describe('early claims kept by the daemon', () => {
  it('writes the claims from the config, reports a late claim with the host driver that bound first, and drops a removed device\'s claim', async () => {
    writeConfig(`[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n\n[[device]]\naddress = "${SEED.nic}"\n`);
    const daemon = await fx.started([]);

    const lines = claimLines();
    expect(lines).toContain('claim 0000:01:00.0 * * * * * * vfio-pci /etc/pcie-passthroughd/config.toml:1');
    expect(lines).toContain('claim 0000:01:00.1 0x10de 0x0e1b 0x1028 0x15cc * * vfio-pci /etc/pcie-passthroughd/config.toml:1 (functions = "all")');
    // The uplink NIC (eno1 is up) is blocked: never claimed, and skipped explicitly.
    expect(lines.filter((l) => l.includes(SEED.nic))).toEqual([expect.stringMatching(/^skip 0000:04:00\.0 .* - blocked: in use by the host \(eno1 is up/)]);

    // The fake host booted with nvidia on the GPU: the daemon took it over, so the claim was late.
    expect(await prop(SEED.gpu, 'Claim')).toBe('late');
    expect(await prop(SEED.gpu, 'ClaimReason')).toMatch(/^nvidia bound first: /);
    expect(daemon.logs.some((l) => l.msg.startsWith(`${SEED.gpu}: claimed late: nvidia bound first`))).toBe(true);

    const list = await runCtl(["--root", fx.host.root, "list", "--json"], fx.host.env);
    const gpu = (JSON.parse(list.stdout) as { devices: { address: string; claim: string; claimReason: string }[] }).devices.find((d) => d.address === SEED.gpu);
    expect(gpu?.claim).toBe('late');

    writeConfig(`[[device]]\naddress = "${SEED.spareNic}"\n`);
    await daemon.waitForLog((l) => l.msg.startsWith(`${SEED.spareNic}: bound to vfio-pci`));
    await daemon.waitForLog((l) => l.msg.startsWith('early claims:') && l.msg !== daemon.logs[0]?.msg && /1 claim written/.test(l.msg));
    expect(claimLines().filter((l) => l.startsWith('claim '))).toEqual(['claim 0000:03:00.0 * * * * * * vfio-pci /etc/pcie-passthroughd/config.toml:1']);
  });

  it('a device the claim helper took at add is reported early; one a host driver held when the claim ran, late', async () => {
    // As the udev rule leaves them: the spare NIC claimed at add (vfio-pci bound, a record with no host driver),
    // the GPU claimed at add too, but nvidia (already loaded) had bound it inside device_add.
    const spec = seedIntel();
    spec.devices = spec.devices.map((d) => (d.address === SEED.spareNic ? { ...d, driver: 'vfio-pci' } : d));
    spec.drivers['vfio-pci'] = { ...spec.drivers['vfio-pci'], loaded: true } as typeof spec.drivers[string];
    const host = await fx.rebuildHost(spec);
    writeConfig(`[[device]]\naddress = "${SEED.spareNic}"\n\n[[device]]\naddress = "${SEED.gpu}"\n`);
    const records = join(host.root, 'run/pcie-passthroughd/claimed');
    mkdirSync(records, { recursive: true });
    writeFileSync(join(records, SEED.spareNic), 'stage=udev\nhost_driver=-\ndriver=vfio-pci\nuptime=3.20\norigin=/etc/pcie-passthroughd/config.toml:1\n');
    writeFileSync(join(records, SEED.gpu), 'stage=udev\nhost_driver=nvidia\ndriver=vfio-pci\nuptime=3.30\norigin=/etc/pcie-passthroughd/config.toml:4\n');
    const daemon = await fx.started([]);
    expect(await prop(SEED.spareNic, 'Claim')).toBe('early');
    expect(await prop(SEED.spareNic, 'ClaimReason')).toBe('claimed at udev (/etc/pcie-passthroughd/config.toml:1); never on a host driver');
    expect(daemon.logs.some((l) => l.msg === `${SEED.spareNic}: claimed early: claimed at udev (/etc/pcie-passthroughd/config.toml:1); never on a host driver`)).toBe(true);
    expect(await prop(SEED.gpu, 'Claim')).toBe('late');
    expect(await prop(SEED.gpu, 'ClaimReason')).toMatch(/^nvidia bound first: nvidia was loaded already and took the device inside the kernel's device_add/);
  });
});

describe('early claims in a status read directly (daemon not running)', () => {
  it('shows each device\'s claim and the initramfs check exactly as the daemon published them', async () => {
    writeConfig(`[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n\n[[device]]\naddress = "${SEED.spareNic}"\n`);
    const daemon = await fx.started([]);
    await daemon.waitForLog((l) => l.msg.startsWith(`${SEED.gpu}: claimed late`));
    type Doc = { source: string; manager: { checks: { name: string; status: string; message: string }[] }; devices: { address: string; managed: boolean; claim: string; claimReason: string }[] };
    const status = async (): Promise<Doc> => JSON.parse((await runCtl(['--root', fx.host.root, '--bus', fx.bus.address, 'status', '--json'], fx.host.env)).stdout) as Doc;
    const claims = (d: Doc): [string, string, string][] => d.devices.filter((x) => x.managed).map((x) => [x.address, x.claim, x.claimReason]);
    const initramfsCheck = (d: Doc): unknown => d.manager.checks.find((c) => c.name === 'initramfs-claims');

    const published = await status();
    expect(published.source).toBe('daemon');
    expect(claims(published).find(([a]) => a === SEED.gpu)?.[1]).toBe('late');
    expect(initramfsCheck(published)).toBeDefined();
    await daemon.stop();

    const direct = await status();
    expect(direct.source).toBe('direct');
    expect(claims(direct)).toEqual(claims(published));
    expect(initramfsCheck(direct)).toEqual(initramfsCheck(published));
    const text = await runCtl(['--root', fx.host.root, '--bus', fx.bus.address, 'status'], fx.host.env);
    expect(text.stdout).toMatch(new RegExp(`^${SEED.gpu.replace(/\./g, '\\.')}: claimed late: nvidia bound first: `, 'm'));
  });
});

describe('early claims for follow_guests', () => {
  it('the daemon writes claims for the devices a followed guest names, and keeps the file while /etc/pve is not mounted', async () => {
    writeConfig('[daemon]\nfollow_guests = "onboot"\n');
    mkdirSync(join(fx.host.root, 'etc/pve/qemu-server'), { recursive: true });
    writeFileSync(join(fx.host.root, 'etc/pve/.version'), '1\n');
    writeFileSync(join(fx.host.root, 'etc/pve/qemu-server/101.conf'), `name: fw\nonboot: 1\nhostpci0: ${SEED.spareNic.slice(5)}\n`);
    const daemon = fx.start([]);
    await daemon.waitForLog((l) => l.msg.startsWith(`${SEED.spareNic}: bound to vfio-pci`));
    await daemon.waitForLog((l) => /^early claims: 1 claim written/.test(l.msg));
    await daemon.waitForLog((l) => l.msg === 'ready');
    const written = claimLines().filter((l) => l.startsWith('claim '));
    expect(written).toEqual([`claim ${SEED.spareNic} * * * * * * vfio-pci /etc/pve/qemu-server/101.conf:3 (VM 101 (fw) (hostpci0))`]);
    expect(await prop(SEED.spareNic, 'Claim')).toBe('late');

    // pmxcfs gone (an empty mount point): the guest is unknown, not gone; its claim stays for the next boot.
    rmSync(join(fx.host.root, 'etc/pve'), { recursive: true });
    mkdirSync(join(fx.host.root, 'etc/pve'));
    daemon.child.kill('SIGHUP');
    await daemon.waitForLog((l) => l.msg.startsWith('early claims: /etc/pcie-passthroughd/early/claims is kept as it is: the guest configuration cannot be read now (pve: /etc/pve is empty'));
    expect(claimLines().filter((l) => l.startsWith('claim '))).toEqual(written);
  });
});
