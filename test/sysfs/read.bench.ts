/**
 * `npx vitest bench --run test/sysfs/read.bench.ts`: readPci vs `lspci -nnk` over the same tree of
 * 4096 PCI functions (BENCH_DEVICES overrides). Not part of `vitest run` (only *.test.ts are).
 */
import { execFileSync } from 'node:child_process';
import { afterAll, bench, describe } from 'vitest';
import { readPciSync } from '../../src/sysfs/read.js';
import { buildLargeHost } from '../fake/large.js';
import { tempTreeDir } from '../fake/tree.js';

const size = Number(process.env.BENCH_DEVICES ?? 4096);
// Built at module load: vitest bench does not run beforeAll before the benches.
const host = await buildLargeHost(tempTreeDir('bench-host-'), size);
const lspciArgs = ['-nnk', '-A', 'linux-sysfs', '-O', `sysfs.path=${host.root}/sys/bus/pci`];

// vitest bench runs file-level afterAll (not beforeAll: hence the top-level await above).
afterAll(() => host.cleanup());

describe(`reading ${host.spec.devices.length} PCI functions`, () => {

  bench('readPci (in-process, names from pci.ids)', () => {
    readPciSync(host.root);
  }, { time: 10_000, iterations: 5 });

  bench('lspci -nnk -A linux-sysfs', () => {
    execFileSync('lspci', lspciArgs, { maxBuffer: 64 << 20 });
  }, { time: 10_000, iterations: 5 });
});
