'use strict';
/**
 * The fake kernel's rules, applied to a fake sysfs tree (a directory holding `.fake-kernel/kernel.json`).
 * Shared by the fs shim (kernel-shim.cjs), the fake modprobe and the tree builder. Plain CommonJS so it
 * loads with `--require` in any child process without a TypeScript step.
 *
 * Semantics follow a real 6.1 kernel (shared/research/qemu-lab.md, "Kernel semantics a fake sysfs must
 * follow") and the kernel sources they come from: drivers/base/bus.c (bind_store, unbind_store,
 * drivers_probe_store), drivers/base/driver.c (driver_set_override), drivers/pci/pci-driver.c
 * (pci_match_device: an override names the only driver that may bind).
 */
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');

// Captured before the shim patches anything: the kernel's own bookkeeping must bypass the shim.
const raw = {
  writeFileSync: fs.writeFileSync,
};

const ADDRESS_RE = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const MARKER = path.join('.fake-kernel', 'kernel.json');

function writeRaw(file, data) {
  raw.writeFileSync(file, data);
}

function kernelError(code, file, what) {
  const errno = os.constants.errno[code] ?? 5;
  const err = new Error(`${code}: ${what}, write '${file}'`);
  err.code = code;
  err.errno = -errno;
  err.syscall = 'write';
  err.path = file;
  return err;
}

/** The tree root holding `.fake-kernel/kernel.json` above `dir` (a real path), or null. */
function findTree(dir) {
  let current = dir;
  for (;;) {
    if (fs.existsSync(path.join(current, MARKER))) return current;
    const parent = path.dirname(current);
    if (parent === current) return null;
    current = parent;
  }
}

function readKernel(tree) {
  return JSON.parse(fs.readFileSync(path.join(tree, MARKER), 'utf8'));
}

function saveKernel(tree, kernel) {
  writeRaw(path.join(tree, MARKER), JSON.stringify(kernel, null, 2) + '\n');
}

// ─────────────────────────── device state, read from the tree ───────────────────────────

const busDevices = (tree) => path.join(tree, 'sys/bus/pci/devices');
const busDrivers = (tree) => path.join(tree, 'sys/bus/pci/drivers');

/** Real directory of a device, or null (the kernel matches the name exactly, after one trailing newline). */
function deviceDir(tree, address) {
  if (!ADDRESS_RE.test(address)) return null;
  try {
    return fs.realpathSync(path.join(busDevices(tree), address));
  } catch {
    return null;
  }
}

function readTrim(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

function readHex(file) {
  const text = readTrim(file);
  return text === null ? null : parseInt(text, 16);
}

function linkName(file) {
  try {
    return path.basename(fs.readlinkSync(file));
  } catch {
    return null;
  }
}

function currentDriver(dir) {
  return linkName(path.join(dir, 'driver'));
}

function readOverride(dir) {
  const text = readTrim(path.join(dir, 'driver_override'));
  return text === null || text === '(null)' ? null : text;
}

function headerType(dir) {
  const fd = fs.openSync(path.join(dir, 'config'), 'r');
  try {
    const buf = Buffer.alloc(1);
    fs.readSync(fd, buf, 0, 1, 0x0e);
    return buf[0] & 0x7f;
  } finally {
    fs.closeSync(fd);
  }
}

function isRegistered(tree, driver) {
  return fs.existsSync(path.join(busDrivers(tree), driver));
}

/** `ids`: "vvvv:dddd" or "vvvv:dddd:cccccc/mmmmmm" (hex class code and mask), "*" for any id half. */
function idTableMatches(spec, dir) {
  const vendor = readHex(path.join(dir, 'vendor'));
  const device = readHex(path.join(dir, 'device'));
  const classCode = readHex(path.join(dir, 'class'));
  for (const id of spec.ids ?? []) {
    const [v, d, cls] = id.split(':');
    if (v !== '*' && parseInt(v, 16) !== vendor) continue;
    if (d !== '*' && parseInt(d, 16) !== device) continue;
    if (cls) {
      const [c, m] = cls.split('/').map((x) => parseInt(x, 16));
      if (((classCode ?? 0) & m) !== (c & m)) continue;
    }
    return true;
  }
  return false;
}

/** pci_bus_match: with an override only that driver matches; without one, the driver's id table. */
function driverMatches(kernel, tree, driver, dir) {
  const override = readOverride(dir);
  if (override !== null) return override === driver;
  const spec = kernel.drivers[driver];
  return spec !== undefined && !spec.vfio && idTableMatches(spec, dir);
}

/** Why the driver's probe refuses the device (an errno name), or null when it binds. */
function probeError(kernel, tree, driver, dir) {
  const address = path.basename(dir);
  const spec = kernel.drivers[driver] ?? {};
  if (spec.vfio) {
    // vfio_pci_probe: non-normal header → -EINVAL; no IOMMU group → -EINVAL; PF with VFs → -EBUSY.
    if (headerType(dir) !== 0) return 'EINVAL';
    if (!kernel.iommu || !fs.existsSync(path.join(dir, 'iommu_group'))) return 'EINVAL';
    const numvfs = readTrim(path.join(dir, 'sriov_numvfs'));
    if (numvfs !== null && Number(numvfs) > 0) return 'EBUSY';
  }
  const failures = kernel.failProbe ?? {};
  if (failures[address] && failures[address].driver === driver) return failures[address].code;
  return null;
}

// ─────────────────────────── state changes ───────────────────────────

function symlinkRelative(target, linkPath) {
  fs.rmSync(linkPath, { force: true });
  fs.symlinkSync(path.relative(path.dirname(linkPath), target), linkPath);
}

function groupOf(dir) {
  const name = linkName(path.join(dir, 'iommu_group'));
  return name === null ? null : name;
}

function attach(tree, kernel, driver, dir) {
  const address = path.basename(dir);
  const driverDir = path.join(busDrivers(tree), driver);
  symlinkRelative(driverDir, path.join(dir, 'driver'));
  symlinkRelative(dir, path.join(driverDir, address));
  const spec = kernel.drivers[driver] ?? {};
  // vfio-pci leaves the device disabled until a VM opens it; host drivers enable it.
  writeRaw(path.join(dir, 'enable'), spec.vfio ? '0\n' : '1\n');
  const group = groupOf(dir);
  if (spec.vfio && group !== null) {
    fs.mkdirSync(path.join(tree, 'dev/vfio'), { recursive: true });
    writeRaw(path.join(tree, 'dev/vfio', group), '');
  }
}

function detach(tree, kernel, dir) {
  const driver = currentDriver(dir);
  if (driver === null) return;
  const address = path.basename(dir);
  fs.rmSync(path.join(dir, 'driver'), { force: true });
  fs.rmSync(path.join(busDrivers(tree), driver, address), { force: true });
  writeRaw(path.join(dir, 'enable'), '0\n');
  const spec = kernel.drivers[driver] ?? {};
  const group = groupOf(dir);
  if (spec.vfio && group !== null) {
    const groupDevices = path.join(tree, 'sys/kernel/iommu_groups', group, 'devices');
    const stillOpen = fs.readdirSync(groupDevices).some((member) => {
      const memberDir = deviceDir(tree, member);
      return memberDir !== null && currentDriver(memberDir) === driver;
    });
    if (!stillOpen) fs.rmSync(path.join(tree, 'dev/vfio', group), { force: true });
  }
}

/** Try one driver on an unbound device; a failed probe leaves it unbound (the kernel only logs it). */
function tryProbe(tree, kernel, driver, dir) {
  if (probeError(kernel, tree, driver, dir) !== null) return false;
  attach(tree, kernel, driver, dir);
  return true;
}

/** device_attach: an unbound device gets the first registered driver that matches and probes. */
function probeDevice(tree, kernel, dir) {
  if (currentDriver(dir) !== null) return;
  for (const driver of Object.keys(kernel.drivers)) {
    if (!isRegistered(tree, driver)) continue;
    if (!driverMatches(kernel, tree, driver, dir)) continue;
    if (tryProbe(tree, kernel, driver, dir)) return;
  }
}

/** Driver registration (module load): it probes every unbound device it matches. */
function registerDriver(tree, driver) {
  const kernel = readKernel(tree);
  const driverDir = path.join(busDrivers(tree), driver);
  fs.mkdirSync(driverDir, { recursive: true });
  for (const file of ['bind', 'unbind', 'new_id', 'remove_id', 'uevent']) writeRaw(path.join(driverDir, file), '');
  for (const address of fs.readdirSync(busDevices(tree)).sort()) {
    const dir = deviceDir(tree, address);
    if (dir === null || currentDriver(dir) !== null) continue;
    if (driverMatches(kernel, tree, driver, dir)) tryProbe(tree, kernel, driver, dir);
  }
}

function parseAddress(data) {
  // sysfs_streq: the written name equals the device name, ignoring one trailing newline.
  return data.endsWith('\n') ? data.slice(0, -1) : data;
}

// ─────────────────────────── device_lock ───────────────────────────
//
// The kernel's device_lock: unbind_store holds it through the driver's remove() (drivers/base/bus.c →
// device_release_driver), and the show() of driver_override (drivers/pci/pci-sysfs.c, since the
// CVE-2017-12146 fix) and of sriov_numvfs (drivers/pci/iov.c) take it too. So while an unbind hangs
// in remove(), reading those attributes of that device blocks as well (task in D state). Modelled as
// a file `.fake-kernel/device_lock/<address>`: present = held. A hanging unbind takes it and keeps it
// until the test releases it (`releaseDeviceLock`, i.e. the driver's remove() finally returns) —
// killing the writer does not release it, as SIGKILL does not end a task in D state.

/** Attributes whose show() takes device_lock. */
const LOCKED_ATTRIBUTES = new Set(['driver_override', 'sriov_numvfs']);
const lockFile = (tree, address) => path.join(tree, '.fake-kernel', 'device_lock', address);

function holdDeviceLock(tree, address) {
  fs.mkdirSync(path.dirname(lockFile(tree, address)), { recursive: true });
  writeRaw(lockFile(tree, address), `${process.pid}\n`);
}

function releaseDeviceLock(tree, address) {
  fs.rmSync(lockFile(tree, address), { force: true });
}

function waitForDeviceLock(tree, address) {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (fs.existsSync(lockFile(tree, address))) Atomics.wait(cell, 0, 0, 20);
}

/**
 * Called by the shim before a file is opened: reading a device_lock attribute of a device whose lock
 * is held blocks until it is released. Cheap for every other path (a name check first).
 */
function beforeOpen(file) {
  const base = path.basename(file);
  if (!LOCKED_ATTRIBUTES.has(base)) return;
  const absolute = path.resolve(file);
  const at = absolute.lastIndexOf(`${path.sep}sys${path.sep}`);
  if (at < 0) return;
  const tree = absolute.slice(0, at);
  const address = path.basename(path.dirname(absolute));
  if (!ADDRESS_RE.test(address) || !fs.existsSync(path.join(tree, MARKER))) return;
  waitForDeviceLock(tree, address);
}

/** A driver whose remove() takes `ms` (a GPU draining work): device_lock held meanwhile, then released. */
function slowRemove(tree, address, ms) {
  holdDeviceLock(tree, address);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  releaseDeviceLock(tree, address);
}

/** Every unbind that detached a driver, one line `ADDRESS DRIVER PID` (tests count writers' unbinds). */
const unbindLog = (tree) => path.join(tree, '.fake-kernel', 'unbinds.log');

function block(tree, address) {
  // The unbind does not return while the driver's remove() hangs (busy GPU driver), holding device_lock.
  holdDeviceLock(tree, address);
  waitForDeviceLock(tree, address);
}

// ─────────────────────────── attribute writes ───────────────────────────

function writeOverride(file, dir, data) {
  if (data.length === 0) return; // a zero-length write never reaches the kernel
  if (Buffer.byteLength(data) >= 4095) throw kernelError('EINVAL', file, 'invalid argument');
  const newline = data.indexOf('\n');
  const value = newline === -1 ? data : data.slice(0, newline);
  writeRaw(path.join(dir, 'driver_override'), value === '' ? '(null)\n' : value + '\n');
}

function writeDriversProbe(tree, file, data) {
  const dir = deviceDir(tree, parseAddress(data));
  if (dir === null) throw kernelError('ENODEV', file, 'no such device');
  probeDevice(tree, readKernel(tree), dir);
}

function writeBind(tree, file, driver, data) {
  const kernel = readKernel(tree);
  const dir = deviceDir(tree, parseAddress(data));
  if (dir === null || !driverMatches(kernel, tree, driver, dir)) throw kernelError('ENODEV', file, 'no such device');
  if (currentDriver(dir) !== null) throw kernelError('EBUSY', file, 'device or resource busy');
  const error = probeError(kernel, tree, driver, dir);
  if (error !== null) throw kernelError(error, file, 'probe failed');
  attach(tree, kernel, driver, dir);
}

function writeUnbind(tree, file, driver, data) {
  const kernel = readKernel(tree);
  const address = parseAddress(data);
  const dir = deviceDir(tree, address);
  if (dir === null || currentDriver(dir) !== driver) throw kernelError('ENODEV', file, 'no such device');
  if ((kernel.hangUnbind ?? []).includes(address)) block(tree, address);
  const slow = (kernel.slowUnbind ?? {})[address];
  if (slow) slowRemove(tree, address, slow);
  const failure = (kernel.failUnbind ?? {})[address];
  if (failure) throw kernelError(failure, file, 'unbind failed');
  detach(tree, kernel, dir);
  fs.appendFileSync(unbindLog(tree), `${address} ${driver} ${process.pid}\n`);
}

/** new_id "vvvv dddd": adds a dynamic id and probes unbound devices (EEXIST when already there). */
function writeNewId(tree, file, driver, data) {
  const kernel = readKernel(tree);
  const [v, d] = data.trim().split(/\s+/);
  if (!v || !d || !/^[0-9a-f]{1,4}$/i.test(v) || !/^[0-9a-f]{1,4}$/i.test(d)) throw kernelError('EINVAL', file, 'invalid argument');
  const id = `${v.toLowerCase().padStart(4, '0')}:${d.toLowerCase().padStart(4, '0')}`;
  const spec = (kernel.drivers[driver] ??= { ids: [] });
  spec.ids ??= [];
  if (spec.ids.includes(id)) throw kernelError('EEXIST', file, 'file exists');
  spec.ids.push(id);
  saveKernel(tree, kernel);
  for (const address of fs.readdirSync(busDevices(tree))) {
    const dir = deviceDir(tree, address);
    if (dir === null || currentDriver(dir) !== null) continue;
    if (readOverride(dir) === null && idTableMatches({ ids: [id] }, dir)) tryProbe(tree, kernel, driver, dir);
  }
}

/**
 * reset_method_store (drivers/pci/pci.c, 5.15+): "default" restores the probed methods, an empty write
 * disables resets, otherwise a space-separated list of methods the device supports, in order; an unknown
 * or unsupported name is -EINVAL and leaves the setting as it was.
 */
function writeResetMethod(tree, file, dir, data) {
  const kernel = readKernel(tree);
  const address = path.basename(dir);
  const probed = (kernel.resetDefault ?? {})[address] ?? [];
  const supported = (kernel.resetSupported ?? {})[address] ?? probed;
  const text = data.replace(/\n$/, '').trim();
  const methods = text === 'default' ? probed : text === '' ? [] : text.split(/\s+/);
  if (new Set(methods).size !== methods.length || methods.some((m) => !supported.includes(m))) {
    throw kernelError('EINVAL', file, 'invalid argument');
  }
  writeRaw(path.join(dir, 'reset_method'), `${methods.join(' ')}\n`);
}

/**
 * Applies a write to `file` if it is a kernel attribute inside a fake tree.
 * Returns false when the write is not the kernel's business (the caller writes the file normally).
 */
function handleWrite(file, data) {
  const absolute = path.resolve(file);
  let dir;
  try {
    dir = fs.realpathSync(path.dirname(absolute));
  } catch {
    return false; // parent missing: the normal write fails with ENOENT, as the kernel would
  }
  const base = path.basename(absolute);
  const tree = findTree(dir);
  if (tree === null) return false;
  const rel = path.relative(tree, dir).split(path.sep).join('/');
  const text = Buffer.isBuffer(data) || ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8') : String(data);

  if (rel === 'sys/bus/pci' && base === 'drivers_probe') {
    writeDriversProbe(tree, absolute, text);
    return true;
  }
  const driverMatch = /^sys\/bus\/pci\/drivers\/([^/]+)$/.exec(rel);
  if (driverMatch) {
    const driver = driverMatch[1];
    if (base === 'bind') writeBind(tree, absolute, driver, text);
    else if (base === 'unbind') writeUnbind(tree, absolute, driver, text);
    else if (base === 'new_id') writeNewId(tree, absolute, driver, text);
    else return false;
    return true;
  }
  if (base === 'driver_override' && rel.startsWith('sys/devices/') && ADDRESS_RE.test(path.basename(dir))) {
    writeOverride(absolute, dir, text);
    return true;
  }
  if (base === 'reset_method' && rel.startsWith('sys/devices/') && ADDRESS_RE.test(path.basename(dir))) {
    writeResetMethod(tree, absolute, dir, text);
    return true;
  }
  return false;
}

module.exports = {
  ADDRESS_RE,
  writeRaw,
  symlinkRelative,
  readKernel,
  saveKernel,
  deviceDir,
  currentDriver,
  readOverride,
  detach,
  probeDevice,
  registerDriver,
  handleWrite,
  findTree,
  beforeOpen,
  holdDeviceLock,
  releaseDeviceLock,
  unbindLog,
  LOCKED_ATTRIBUTES,
};
