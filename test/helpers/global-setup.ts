import { execFileSync } from 'node:child_process';

/** End-to-end tests run the shipped bundles (dist/*.cjs): build them once per test run. */
export default function setup(): void {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
}
