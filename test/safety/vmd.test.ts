import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkAddress, parseConfig } from '../../src/config/index.js';
import { devicePath } from '../../src/dbus/names.js';
import { assess, observe } from '../../src/engine.js';
import { compareAddresses } from '../../src/model.js';
import { readInUse } from '../../src/sysfs/inuse.js';
import { ueventAddress } from '../../src/watch/uevent-parse.js';
import { VMD, vmdRootNvme } from '../fake/layouts.js';
import { useFakeHosts } from '../helpers/fake-hosts.js';

const hostOf = useFakeHosts();

describe('Intel VMD: five-digit PCI domains', () => {
  it('the root NVMe in domain 10000 is the host\'s (its mount no longer lands on the VMD controller)', async () => {
    const host = await hostOf(vmdRootNvme());
    expect(existsSync(join(host.root, 'sys/devices/pci0000:00/0000:00:0e.0/pci10000:e0/10000:e0:06.0/10000:e1:00.0'))).toBe(true);
    const facts = readInUse(host.root);
    expect(facts.get(VMD.nvme)?.map((f) => f.detail)).toEqual(['nvme0n1p2 mounted on /', 'nvme0n1p1 mounted on /boot/efi', 'swap on nvme0n1p3']);
    expect(facts.get(VMD.controller)).toBeUndefined();

    const parsed = parseConfig(`[[device]]\naddress = "${VMD.nvme}"\n`, '/etc/pcie-passthroughd/config.toml');
    if (!parsed.ok) throw new Error('config');
    const snapshot = await observe(host.root);
    const { plan } = assess(parsed.config, snapshot, { devices: {} });
    const v = plan.verdicts.find((x) => x.address === VMD.nvme);
    expect(v?.state).toBe('blocked');
    expect(v?.reason).toContain('in use by the host (nvme0n1p2 mounted on /');
    expect(plan.actions).toEqual([]);
    // Sorted like lspci: every 0000: device first, the VMD domain last.
    expect(plan.verdicts.at(-1)?.address).toBe(VMD.nvme);
    expect(snapshot.devices.map((d) => d.address).at(-2)).toBe(VMD.rootPort);
  });

  it('parsers, printers, object paths and sorting take 4- and 5-digit domains', () => {
    expect(checkAddress('10000:E1:00.0')).toEqual({ ok: true, value: '10000:e1:00.0' });
    expect(checkAddress('01:00.0')).toEqual({ ok: true, value: '0000:01:00.0' });
    expect(devicePath('10000:e1:00.0')).toBe('/org/pciepassthroughd/devices/pci_10000_e1_00_0');
    expect(ueventAddress({ action: 'add', devpath: '/devices/pci0000:00/0000:00:0e.0/pci10000:e0/10000:e0:06.0/10000:e1:00.0', subsystem: 'pci', props: {} })).toBe('10000:e1:00.0');
    expect(['10000:e1:00.0', 'ffff:00:01.0', '0000:02:00.0', '10000:e0:06.0'].sort(compareAddresses)).toEqual(['0000:02:00.0', 'ffff:00:01.0', '10000:e0:06.0', '10000:e1:00.0']);
  });
});
