/**
 * Carries out a setup plan: each changed file backed up once (FILE.pcie-passthroughd.bak, the
 * first one kept), then replaced atomically (temp file in the same directory, fsync, rename);
 * then the commands. Under --root every effect stays below the root: files are written there,
 * and a command runs chrooted into it only when the root is a real root filesystem that has the
 * command; otherwise it is reported as not run.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { copyFile, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { under } from '../paths.js';
import type { FileEdit, PlannedCommand } from './types.js';

export const BACKUP_SUFFIX = '.pcie-passthroughd.bak';

export interface WriteResult {
  path: string;
  /** The backup made now; null when the file is new or its first backup already exists. */
  backup: string | null;
  error: string | null;
}

export type CommandOutcome = 'ran' | 'failed' | 'not-run';

export interface CommandResult {
  argv: string[];
  outcome: CommandOutcome;
  /** Exit status (ran/failed) or why it was not run. */
  detail: string;
}

async function existsAt(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const temp = join(dirname(path), `.${path.slice(dirname(path).length + 1)}.pcie-passthroughd.tmp`);
  const handle = await open(temp, 'w', mode);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw e;
  }
}

export async function writeEdit(root: string, edit: FileEdit): Promise<WriteResult> {
  const path = under(root, edit.path);
  try {
    let backup: string | null = null;
    let mode = 0o644;
    if (edit.before !== null) {
      mode = (await stat(path)).mode & 0o7777;
      const backupPath = `${path}${BACKUP_SUFFIX}`;
      if (!(await existsAt(backupPath))) {
        // COPYFILE_EXCL: never overwrite the first backup, even if one appeared meanwhile.
        await copyFile(path, backupPath, constants.COPYFILE_EXCL);
        backup = `${edit.path}${BACKUP_SUFFIX}`;
      }
    } else {
      await mkdir(dirname(path), { recursive: true });
    }
    await writeAtomically(path, edit.after, mode);
    return { path: edit.path, backup, error: null };
  } catch (e) {
    return { path: edit.path, backup: null, error: (e as Error).message };
  }
}

const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The command's program inside `root`, when `root` is a real root filesystem (it has /bin/sh). */
async function programUnder(root: string, program: string): Promise<string | null> {
  if (!(await existsAt(join(root, 'bin/sh')))) return null;
  for (const dir of SEARCH_PATH) if (await existsAt(join(root, dir, program))) return join(dir, program);
  return null;
}

function run(argv: string[], onOutput: (line: string) => void): Promise<number | string> {
  return new Promise((resolve) => {
    const [program, ...args] = argv as [string, ...string[]];
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    const forward = (b: Buffer): void => b.toString().split('\n').filter(Boolean).forEach(onOutput);
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    child.on('error', (e) => resolve(e.message));
    child.on('close', (code, signal) => resolve(code ?? `killed by ${signal}`));
  });
}

export async function runCommand(root: string, command: PlannedCommand, onOutput: (line: string) => void, onStart: (argv: string[]) => void = () => undefined): Promise<CommandResult> {
  let argv = command.argv;
  if (root !== '/') {
    const program = await programUnder(root, command.argv[0] ?? '');
    if (!program) return { argv: command.argv, outcome: 'not-run', detail: `not run under --root ${root} (no ${command.argv[0]} in a root filesystem there); run it inside that system` };
    argv = ['chroot', root, program, ...command.argv.slice(1)];
  }
  onStart(argv);
  const status = await run(argv, onOutput);
  if (status === 0) return { argv: command.argv, outcome: 'ran', detail: 'exit status 0' };
  return { argv: command.argv, outcome: 'failed', detail: typeof status === 'number' ? `exit status ${status}` : status };
}
