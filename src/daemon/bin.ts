import { serveConfigParse } from '../config/parse-off-thread.js';
import { main } from './main.js';

// The bundle is also the config parser's worker thread (src/config/parse-off-thread.ts).
if (!serveConfigParse()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exit(code);
    },
    (e: unknown) => {
      process.stderr.write(`pcie-passthroughd: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
