import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PciIdsText, loadPciNames } from '../../src/sysfs/pciids.js';
import { PCI_IDS_EXCERPT } from '../fake/hosts.js';

describe('pci.ids lookups', () => {
  const ids = new PciIdsText(PCI_IDS_EXCERPT);

  it('finds vendors and devices, including the first and the last vendor of the list', () => {
    expect(ids.vendor(0x1002)).toBe('Advanced Micro Devices, Inc. [AMD/ATI]');
    expect(ids.device(0x1002, 0x73bf)).toBe('Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]');
    expect(ids.vendor(0x8086)).toBe('Intel Corporation');
    expect(ids.device(0x8086, 0xa36d)).toBe('Cannon Lake PCH USB 3.1 xHCI Host Controller');
  });

  it('never takes a subsystem line or another vendor\'s device for the device asked', () => {
    // 0x1028 appears only as a subsystem vendor ("\t\t1028 15cc"); 0x0ffc exists under 10de, not 1002.
    expect(ids.vendor(0x1028)).toBeNull();
    expect(ids.device(0x10de, 0x0ffc)).toBe('GK107GLM [Quadro K1000M]');
    expect(ids.device(0x1002, 0x0ffc)).toBeNull();
    // The last vendor's block ends where the class list begins.
    expect(ids.device(0x8086, 0x0003)).toBeNull();
    expect(ids.vendor(0xc003)).toBeNull();
  });

  it('returns null for unknown ids', () => {
    expect(ids.vendor(0xdead)).toBeNull();
    expect(ids.device(0xdead, 0xbeef)).toBeNull();
  });
});

describe('loadPciNames', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  function root(): string {
    const dir = mkdtempSync(join(tmpdir(), 'pciids-'));
    dirs.push(dir);
    return dir;
  }

  it('falls back to hwdata\'s copy and sees the file change', () => {
    const r = root();
    mkdirSync(join(r, 'usr/share/hwdata'), { recursive: true });
    const file = join(r, 'usr/share/hwdata/pci.ids');
    writeFileSync(file, '10de  NVIDIA Corporation\n\t1b80  GP104 [GeForce GTX 1080]\n');
    expect(loadPciNames(r).device(0x10de, 0x1b80)).toBe('GP104 [GeForce GTX 1080]');
    writeFileSync(file, '10de  NVIDIA Corp.\n\t1b80  GP104 [GeForce GTX 1080] (updated database)\n');
    expect(loadPciNames(r).vendor(0x10de)).toBe('NVIDIA Corp.');
  });

  it('gives null names when no database is installed', () => {
    expect(loadPciNames(root()).vendor(0x10de)).toBeNull();
  });
});
