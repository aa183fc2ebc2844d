'use strict';
/**
 * `modprobe [-q] [-v] NAME` against the fake kernel tree in $FAKE_KERNEL_TREE.
 * A loadable module registers its driver: the driver dir appears and, like the real kernel,
 * the driver immediately probes unbound devices it matches (override naming it, or its id table).
 */
const fs = require('node:fs');
const path = require('node:path');
const kernel = require('./kernel.cjs');

const tree = process.env.FAKE_KERNEL_TREE;
const quiet = process.argv.includes('-q') || process.argv.includes('--quiet');
const names = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));

function fail(message) {
  if (!quiet) process.stderr.write(`modprobe: FATAL: ${message}\n`);
  process.exit(1);
}

if (!tree) fail('FAKE_KERNEL_TREE is not set');
if (names.length !== 1) fail('expected exactly one module name');

// modprobe treats '-' and '_' in module names alike.
const moduleName = names[0].replace(/-/g, '_');
const state = kernel.readKernel(tree);
const entry = Object.entries(state.drivers).find(([driver, spec]) => (spec.module ?? driver).replace(/-/g, '_') === moduleName);
const release = fs.readFileSync(path.join(tree, 'proc/sys/kernel/osrelease'), 'utf8').trim();
if (!entry || !entry[1].loadable) {
  const loaded = fs.readFileSync(path.join(tree, 'proc/modules'), 'utf8').split('\n').some((line) => line.split(' ')[0] === moduleName);
  if (loaded) process.exit(0);
  fail(`Module ${names[0]} not found in directory /lib/modules/${release}`);
}

const [driver, spec] = entry;
const modulesFile = path.join(tree, 'proc/modules');
const loadedModules = new Set(fs.readFileSync(modulesFile, 'utf8').split('\n').filter(Boolean).map((line) => line.split(' ')[0]));
const toLoad = [...(spec.deps ?? []), moduleName].filter((m) => !loadedModules.has(m));
if (toLoad.length > 0) {
  const lines = toLoad.map((m) => `${m} 16384 0 - Live 0x0000000000000000\n`).join('');
  fs.appendFileSync(modulesFile, lines);
}
if (!fs.existsSync(path.join(tree, 'sys/bus/pci/drivers', driver))) kernel.registerDriver(tree, driver);
