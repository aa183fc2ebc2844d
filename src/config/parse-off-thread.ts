/**
 * Runs parseConfig in a worker thread: the TOML parser needs ~0.1 ms per entry and up to a quarter
 * second for a 1 MiB file, which on the main thread would stall D-Bus and signal handling that long.
 * The worker is started per parse (a config is parsed rarely) and ended afterwards, so the memory
 * a big file took is returned. Only the bundles (dist/*.cjs) can start the worker: both entry points
 * hand a worker thread to `serveConfigParse` (see src/daemon/bin.ts). Run from sources (tests of the
 * pure code), the parse happens in this thread.
 */
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { parseConfig, type ParseResult } from './parse.js';

const ROLE = 'pcie-passthroughd/config-parse';
/** A parse that takes longer than this is abandoned (the worker is terminated): the config is refused. */
const PARSE_TIMEOUT_MS = 10_000;

interface Job {
  role: typeof ROLE;
  text: string;
  file: string;
}

/** The bundle this code runs in, or null when it runs from sources. */
function bundleFile(): string | null {
  const self = import.meta.url;
  return self.endsWith('.cjs') ? fileURLToPath(self) : null;
}

/** For the bundles' entry points: true when this thread is a config-parse worker (and it has answered). */
export function serveConfigParse(): boolean {
  if (isMainThread) return false;
  const job = workerData as Job | undefined;
  if (!job || job.role !== ROLE) return false;
  parentPort?.postMessage(parseConfig(job.text, job.file));
  return true;
}

export function parseConfigOffThread(text: string, file: string, timeoutMs = PARSE_TIMEOUT_MS): Promise<ParseResult> {
  const bundle = bundleFile();
  if (bundle === null) return Promise.resolve(parseConfig(text, file));
  return new Promise((resolve) => {
    const job: Job = { role: ROLE, text, file };
    const worker = new Worker(bundle, { workerData: job, stdout: false, stderr: false });
    let settled = false;
    const settle = (result: ParseResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      resolve(result);
    };
    const whole = (message: string): ParseResult => ({ ok: false, errors: [{ file, line: 0, column: 0, message }] });
    const timer = setTimeout(() => settle(whole(`validating the file took longer than ${timeoutMs / 1000} s; it was refused`)), timeoutMs);
    worker.once('message', (result: ParseResult) => settle(result));
    worker.once('error', (e) => settle(whole(`could not validate the file: ${e.message}`)));
    worker.once('exit', (code) => settle(whole(`could not validate the file: the parser stopped (exit ${code})`)));
  });
}
