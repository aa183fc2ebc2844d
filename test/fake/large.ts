/**
 * A host with thousands of PCI functions (SR-IOV NICs with 255 VFs each, one root port per PF) for
 * measuring the reader against lspci. Uses the system's full pci.ids when present, as lspci does.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { DeviceSpec, FakeHost, HostSpec } from './tree.js';
import { buildHost } from './tree.js';
import { seedIntel } from './hosts.js';

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/** About `n` PCI functions: a host bridge, then per bus a root port, a PF at BB:00.0 and VFs up to BB:1f.7. */
export function largeHostSpec(n: number): HostSpec {
  const base = seedIntel();
  const devices: DeviceSpec[] = [{ address: '0000:00:00.0', vendor: 0x8086, device: 0x3e30, classCode: 0x060000, driver: null, group: 0 }];
  let group = 1;
  for (let bus = 0x10; devices.length < n; bus++) {
    const port = `0000:00:${hex2(bus - 0x10 + 1)}.0`;
    const pf = `0000:${hex2(bus)}:00.0`;
    devices.push({ address: port, vendor: 0x8086, device: 0xa338, classCode: 0x060400, driver: 'pcieport', group: group++ });
    const vfs = Math.min(255, n - devices.length - 1);
    devices.push({ address: pf, parent: port, vendor: 0x8086, device: 0x1521, classCode: 0x020000, driver: 'igb', group: group++, sriov: { totalVfs: 255, numVfs: vfs } });
    for (let i = 1; i <= vfs; i++) {
      devices.push({ address: `0000:${hex2(bus)}:${hex2(i >> 3)}.${i & 7}`, parent: port, vendor: 0x8086, device: 0x1520, classCode: 0x020000, driver: 'igbvf', group: group++, physfn: pf });
    }
  }
  const systemIds = '/usr/share/misc/pci.ids';
  return { ...base, devices, block: [], mounts: [], swaps: [], routes: [], routes6: [], pciIds: existsSync(systemIds) ? readFileSync(systemIds, 'utf8') : base.pciIds };
}

export function buildLargeHost(dir: string, n: number): Promise<FakeHost> {
  return buildHost(dir, largeHostSpec(n));
}
