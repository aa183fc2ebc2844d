/** Fake hosts built per test and removed after it, and the files a test changes on them. */
import { mkdirSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach } from 'vitest';
import { buildHost, tempTreeDir, type FakeHost, type HostSpec } from '../fake/tree.js';

export const CONFIG = '/etc/pcie-passthroughd/config.toml';
const CONFIG_DIR = 'etc/pcie-passthroughd';

/** Hosts built through `build` and removed together by `cleanup`. */
export interface HostPool {
  build(spec: HostSpec): Promise<FakeHost>;
  cleanup(): void;
}

export function hostPool(): HostPool {
  const hosts: FakeHost[] = [];
  return {
    async build(spec) {
      const host = await buildHost(tempTreeDir(), spec);
      hosts.push(host);
      return host;
    },
    cleanup() {
      for (const host of hosts.splice(0)) host.cleanup();
    },
  };
}

/** Builds fake hosts for a test; every one is removed after it, passed or failed. */
export function useFakeHosts(): (spec: HostSpec) => Promise<FakeHost> {
  const pool = hostPool();
  afterEach(() => pool.cleanup());
  return (spec) => pool.build(spec);
}

export function writeConfig(host: FakeHost, text: string): void {
  mkdirSync(join(host.root, CONFIG_DIR), { recursive: true });
  writeFileSync(join(host.root, CONFIG), text);
}

/** How editors and config management save: write a temp file, rename it over the config. */
export function writeConfigAtomically(host: FakeHost, text: string): void {
  mkdirSync(join(host.root, CONFIG_DIR), { recursive: true });
  const tmp = join(host.root, CONFIG_DIR, '.config.toml.tmp');
  writeFileSync(tmp, text);
  renameSync(tmp, join(host.root, CONFIG));
}

/** The driver a device is bound to (its `driver` link), or null when unbound or gone. */
export function driverOf(host: FakeHost, address: string): string | null {
  try {
    return basename(readlinkSync(join(host.deviceDir(address), 'driver')));
  } catch {
    return null;
  }
}
