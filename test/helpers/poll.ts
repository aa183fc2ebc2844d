export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Probes every 100 ms until `ok` holds or `ms` have passed; returns the last value (the caller asserts on it). */
export async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v) || Date.now() > end) return v;
    await sleep(100);
  }
}
