import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`pcie-passthroughd: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
