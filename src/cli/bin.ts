import { serveConfigParse } from '../config/parse-off-thread.js';
import { EXIT } from './exit.js';
import { main } from './main.js';

// The bundle is also the config parser's worker thread (src/config/parse-off-thread.ts).
if (!serveConfigParse()) {
  main(process.argv.slice(2), (s) => process.stdout.write(`${s}\n`), (s) => process.stderr.write(`${s}\n`)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`pcie-passthroughctl: ${String(e)}\n`);
      process.exitCode = EXIT.failure;
    },
  );
}
