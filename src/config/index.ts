/** Configuration: config.toml (validated, positioned errors) and the modprobe.d `ids=` import. */
export { formatConfigError } from './errors.js';
export type { ConfigError } from './errors.js';
export { parseConfig, DAEMON_KEYS, DEVICE_KEYS } from './parse.js';
export type { ParseResult } from './parse.js';
export { loadConfig, defaultConfig } from './load.js';
export type { LoadResult } from './load.js';
export { entriesFromModprobe } from './modprobe.js';
export { checkAddress, checkIdPair, checkDriverName } from './pci-syntax.js';
export { cronProblem } from './cron.js';
