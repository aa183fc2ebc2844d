// Bundles the two entry points into self-contained CommonJS files under dist/.
// CommonJS because some dependencies break inside an ESM bundle (dynamic require of builtins).
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

try {
  await build({
    entryPoints: { 'pcie-passthroughctl': 'src/cli/bin.ts', 'pcie-passthroughd': 'src/daemon/bin.ts' },
    outdir: 'dist',
    outExtension: { '.js': '.cjs' },
    bundle: true,
    platform: 'node',
    target: 'node18.19',
    format: 'cjs',
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
    // dbus-next's optional extras: a native helper for abstract sockets and X11 session-bus discovery;
    // neither is installed nor needed for the system bus or a unix:path= address.
    external: ['usocket', 'x11'],
    define: {
      __PKG_VERSION__: JSON.stringify(pkg.version),
      // ESM dependencies (execa) read import.meta.url; in a CJS bundle that is this file's URL.
      'import.meta.url': '__bundle_url',
    },
    banner: { js: "const __bundle_url = require('node:url').pathToFileURL(__filename).href;" },
  });
} catch {
  process.exit(1);
}
