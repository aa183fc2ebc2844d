/**
 * Who has a PCI device open: the processes whose /proc/PID/fd links point at the device's files —
 * /dev/vfio/<group> (or the vfio cdev /dev/vfio/devices/vfioN), its DRM nodes /dev/dri/cardN and
 * renderDN (sysfs `drm/`), and for the NVIDIA driver /dev/nvidiaN (minor from
 * /proc/driver/nvidia/gpus/<address>/information) plus the control nodes every NVIDIA GPU shares.
 * A walk over every process's fds: run on request or for a device that waits, never per reconcile.
 */
import { readlinkSync } from 'node:fs';
import type { Address, PciDevice } from '../model.js';
import { under } from '../paths.js';
import { list, readText } from './tolerant.js';

export interface Holder {
  pid: number;
  /** /proc/PID/comm */
  command: string;
  /** The device file it has open, as the fd link reads ("/dev/vfio/6"). */
  file: string;
  /** The VM, when the process is QEMU: its -name, or "VM 100" from Proxmox's -id. */
  vm: string | null;
}

/** Nodes the NVIDIA driver creates once for all its GPUs: holding one keeps the driver busy (unbind hangs). */
const NVIDIA_SHARED = ['/dev/nvidiactl', '/dev/nvidia-modeset', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools'];

/** The device files of `d`, as absolute paths on the host (what /proc/PID/fd links read). */
export function deviceFiles(root: string, d: Pick<PciDevice, 'address' | 'iommuGroup' | 'driver'>): string[] {
  const dir = under(root, `/sys/bus/pci/devices/${d.address}`);
  const files: string[] = [];
  if (d.iommuGroup !== null) files.push(`/dev/vfio/${d.iommuGroup}`);
  for (const node of list(`${dir}/vfio-dev`)) files.push(`/dev/vfio/devices/${node}`);
  for (const node of list(`${dir}/drm`)) if (/^(card|renderD)\d+$/.test(node)) files.push(`/dev/dri/${node}`);
  if (d.driver === 'nvidia') {
    const info = readText(under(root, `/proc/driver/nvidia/gpus/${d.address}/information`)) ?? '';
    const minor = /^Device Minor:\s*(\d+)/m.exec(info)?.[1];
    if (minor !== undefined) files.push(`/dev/nvidia${minor}`);
    files.push(...NVIDIA_SHARED);
  }
  return files;
}

/** QEMU's VM name from its argv: `-name guest=win10,debug-threads=on`, `-name win10`, or Proxmox's `-id 100`. */
export function vmOfArgv(argv: string[]): string | null {
  const name = argv.indexOf('-name');
  if (name >= 0 && argv[name + 1] !== undefined) {
    const opts = argv[name + 1]!.split(',');
    const guest = opts.find((o) => o.startsWith('guest='));
    return guest ? guest.slice('guest='.length) : (opts[0] || null);
  }
  const id = argv.indexOf('-id');
  return id >= 0 && argv[id + 1] !== undefined ? `VM ${argv[id + 1]}` : null;
}

/** One pass over /proc for every device asked about; processes we may not look into are skipped. */
export function findHolders(root: string, files: Map<Address, string[]>): Map<Address, Holder[]> {
  const wanted = new Map<string, Address[]>();
  for (const [address, paths] of files) for (const p of paths) wanted.set(p, [...(wanted.get(p) ?? []), address]);
  const found = new Map<Address, Holder[]>([...files.keys()].map((a) => [a, []]));
  if (wanted.size === 0) return found;
  const proc = under(root, '/proc');
  for (const entry of list(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    const fdDir = `${proc}/${entry}/fd`;
    const hits = new Set<string>();
    for (const fd of list(fdDir)) {
      let target: string;
      try {
        target = readlinkSync(`${fdDir}/${fd}`);
      } catch {
        continue; // the fd closed meanwhile
      }
      if (wanted.has(target)) hits.add(target);
    }
    if (hits.size === 0) continue;
    const command = (readText(`${proc}/${entry}/comm`) ?? '').trim() || '?';
    const argv = (readText(`${proc}/${entry}/cmdline`) ?? '').split('\0').filter(Boolean);
    const vm = vmOfArgv(argv);
    for (const file of [...hits].sort()) {
      for (const address of wanted.get(file) ?? []) found.get(address)!.push({ pid: Number(entry), command, file, vm });
    }
  }
  for (const holders of found.values()) holders.sort((a, b) => a.pid - b.pid || (a.file < b.file ? -1 : 1));
  return found;
}

/** "PID 4242 (qemu-system-x86, VM 100) has /dev/vfio/6 open; PID 977 (Xorg) has /dev/dri/card1 open". */
export function describeHolders(holders: Holder[]): string {
  return holders.map((h) => `PID ${h.pid} (${h.command}${h.vm ? `, ${h.vm}` : ''}) has ${h.file} open`).join('; ');
}
