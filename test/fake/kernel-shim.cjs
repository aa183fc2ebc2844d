'use strict';
/**
 * Makes node's whole-file writes obey the fake kernel inside fake trees (see kernel.cjs), and openSync of an
 * attribute whose show() takes device_lock wait while that lock is held; every other
 * write passes through untouched. Load it in-process (`createRequire(...)('./kernel-shim.cjs')`) or in
 * child processes with `NODE_OPTIONS=--require <absolute path>`. Idempotent.
 */
const fs = require('node:fs');
const { syncBuiltinESMExports } = require('node:module');
const kernel = require('./kernel.cjs');

const INSTALLED = Symbol.for('pcie-passthroughd.fake-kernel-shim');

function isPathLike(file) {
  return typeof file === 'string' || Buffer.isBuffer(file) || file instanceof URL;
}

function toPath(file) {
  if (file instanceof URL) return require('node:url').fileURLToPath(file);
  return Buffer.isBuffer(file) ? file.toString() : file;
}

if (!globalThis[INSTALLED]) {
  globalThis[INSTALLED] = true;
  const original = {
    openSync: fs.openSync,
    writeFileSync: fs.writeFileSync,
    writeFile: fs.writeFile,
    promisesWriteFile: fs.promises.writeFile,
  };

  // Reads of attributes whose show() takes device_lock wait while that lock is held (kernel.cjs).
  fs.openSync = function openSync(file, ...rest) {
    if (isPathLike(file)) kernel.beforeOpen(toPath(file));
    return original.openSync.call(fs, file, ...rest);
  };

  fs.writeFileSync = function writeFileSync(file, data, ...rest) {
    if (isPathLike(file) && kernel.handleWrite(toPath(file), data)) return undefined;
    return original.writeFileSync.call(fs, file, data, ...rest);
  };

  fs.writeFile = function writeFile(file, data, ...rest) {
    const callback = rest[rest.length - 1];
    if (isPathLike(file) && typeof callback === 'function') {
      let handled;
      try {
        handled = kernel.handleWrite(toPath(file), data);
      } catch (err) {
        process.nextTick(callback, err);
        return undefined;
      }
      if (handled) {
        process.nextTick(callback, null);
        return undefined;
      }
    }
    return original.writeFile.call(fs, file, data, ...rest);
  };

  fs.promises.writeFile = async function writeFile(file, data, ...rest) {
    if (isPathLike(file) && kernel.handleWrite(toPath(file), data)) return undefined;
    return original.promisesWriteFile.call(fs.promises, file, data, ...rest);
  };

  syncBuiltinESMExports();
}

module.exports = { shimPath: require.resolve('./kernel-shim.cjs') };
