import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const CTL = join(process.cwd(), 'dist/pcie-passthroughctl.cjs');
export const DAEMON = join(process.cwd(), 'dist/pcie-passthroughd.cjs');

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI bundle as a user would, with the fake kernel's environment. */
export function runCtl(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CTL, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
