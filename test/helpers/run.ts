import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const CTL = join(process.cwd(), 'dist/pcie-passthroughctl.cjs');
export const DAEMON = join(process.cwd(), 'dist/pcie-passthroughd.cjs');

/**
 * The node that runs the shipped bundles: this one, or PPD_TEST_NODE (CI points it at Debian
 * bookworm's nodejs 18.20 through scripts/node18.sh, the oldest runtime we support).
 */
export const BUNDLE_NODE = process.env.PPD_TEST_NODE || process.execPath;

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI bundle as a user would, with the fake kernel's environment. */
export function runCtl(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(BUNDLE_NODE, [CTL, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
