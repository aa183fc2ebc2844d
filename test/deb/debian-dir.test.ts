import { accessSync, constants, existsSync, readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoFile = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const read = (path: string): string => readFileSync(repoFile(path), 'utf8');

/** Source → destination directory pairs of debian/pcie-passthroughd.install. */
function installLines(): Array<{ source: string; dest: string }> {
  return read('debian/pcie-passthroughd.install')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const [source = '', dest = ''] = l.trim().split(/\s+/);
      return { source, dest };
    });
}

describe('debian/', () => {
  it('packages the version package.json declares (the bundle reports that one)', () => {
    const pkg = JSON.parse(read('package.json')) as { version: string };
    // The top entry of debian/changelog sets the package version (deb-changelog(5)).
    const top = /^pcie-passthroughd \(([^)]+)\) /.exec(read('debian/changelog'));
    expect(top?.[1]).toBe(pkg.version);
  });

  it('installs files that exist in the repository (dist/ is built before the package)', () => {
    const lines = installLines();
    expect(lines.length).toBeGreaterThan(5);
    for (const { source } of lines) {
      if (source.startsWith('dist/')) continue;
      expect(existsSync(repoFile(source)), `${source} (debian/pcie-passthroughd.install)`).toBe(true);
    }
    for (const page of read('debian/pcie-passthroughd.manpages').split('\n').filter(Boolean)) {
      expect(existsSync(repoFile(page)), page).toBe(true);
    }
    // dh_installsystemd takes the unit from debian/; it is the one in systemd/.
    expect(realpathSync(repoFile('debian/pcie-passthroughd.service'))).toBe(realpathSync(repoFile('systemd/pcie-passthroughd.service')));
  });

  it('has wrappers that run the installed bundles with Debian\'s /usr/bin/node', () => {
    const lines = installLines();
    const bundles = lines.filter((l) => l.source.startsWith('dist/')).map((l) => `/${l.dest.replace(/\/$/, '')}/${l.source.slice('dist/'.length)}`);
    for (const [wrapper, bundle] of [['pcie-passthroughctl', 'pcie-passthroughctl.cjs'], ['pcie-passthroughd', 'pcie-passthroughd.cjs']] as const) {
      const path = `debian/bin/${wrapper}`;
      accessSync(repoFile(path), constants.X_OK);
      const target = bundles.find((b) => b.endsWith(`/${bundle}`));
      expect(target, `${bundle} is installed`).toBeDefined();
      expect(read(path)).toContain(`exec /usr/bin/node ${target} "$@"`);
    }
    expect(lines).toContainEqual({ source: 'debian/bin/pcie-passthroughd', dest: 'usr/sbin/' });
    expect(lines).toContainEqual({ source: 'debian/bin/pcie-passthroughctl', dest: 'usr/bin/' });
  });

  it('names every bundled npm package in debian/copyright', () => {
    // Runtime packages from the lockfile: what esbuild can pull into the bundle (types and
    // optional native helpers, which build.mjs leaves out, are not code that ships).
    const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }> };
    const names = Object.entries(lock.packages)
      .filter(([path, meta]) => path !== '' && !meta.dev && !meta.optional && !meta.devOptional)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length))
      .filter((name) => !name.startsWith('@types/') && name !== 'undici-types');
    expect(names).toContain('dbus-next');
    const copyright = read('debian/copyright');
    const missing = [...new Set(names)].filter((name) => !copyright.includes(`(${name})`));
    expect(missing, 'add a Copyright line "<holder> (<package>)" to the dist/* paragraph').toEqual([]);
  });
});
