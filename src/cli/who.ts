/** `pcie-passthroughctl who ADDRESS`: the processes that have the device open (src/sysfs/holders.ts). */
import { checkAddress } from '../config/pci-syntax.js';
import { observe } from '../engine.js';
import { deviceFiles, findHolders } from '../sysfs/holders.js';
import { EXIT } from './exit.js';
import type { CliOptions } from './main.js';
import { table } from './text.js';

type Print = (s: string) => void;

export async function runWho(opts: CliOptions, out: Print, err: Print): Promise<number> {
  const raw = opts.args?.[0] ?? '';
  const checked = checkAddress(raw);
  if (!checked.ok) {
    err(`pcie-passthroughctl: ${checked.problem}`);
    return EXIT.usage;
  }
  const snapshot = await observe(opts.root);
  const d = snapshot.devices.find((x) => x.address === checked.value);
  if (!d) {
    err(`pcie-passthroughctl: no PCI device ${checked.value} (see \`pcie-passthroughctl list\`)`);
    return EXIT.failure;
  }
  const files = deviceFiles(opts.root, d);
  const holders = findHolders(opts.root, new Map([[d.address, files]])).get(d.address) ?? [];
  if (opts.json) {
    out(JSON.stringify({ address: d.address, files, holders }, null, 2));
  } else if (holders.length === 0) {
    out(`Nobody has ${d.address} open (looked for ${files.join(', ') || 'no device files'}).`);
  } else {
    out(table(['PID', 'COMMAND', 'VM', 'FILE'], holders.map((h) => [String(h.pid), h.command, h.vm ?? '-', h.file])));
  }
  // Processes run by other users are invisible to a non-root caller.
  if (process.getuid?.() !== 0 && opts.root === '/') err('note: not root, so only your own processes were looked at');
  return EXIT.ok;
}
