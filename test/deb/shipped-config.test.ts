import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DAEMON_KEYS, DEVICE_KEYS, parseConfig } from '../../src/config/index.js';
import { DEFAULT_DAEMON_SETTINGS } from '../../src/model.js';

// The file the package installs as /etc/pcie-passthroughd/config.toml (a conffile).
const shippedPath = new URL('../../data/config.toml', import.meta.url);
const shipped = readFileSync(shippedPath, 'utf8');
const ETC_PATH = '/etc/pcie-passthroughd/config.toml';

/** What an admin gets by deleting the leading "#" of every commented setting and example. */
function uncommentEverySetting(text: string): string {
  return text.replace(/^#(?=\[\[device\]\]$|[a-z_]+ = )/gm, '');
}

describe('shipped config.toml', () => {
  it('is valid as installed and binds nothing', () => {
    const parsed = parseConfig(shipped, ETC_PATH);
    expect(parsed.ok ? [] : parsed.errors).toEqual([]);
    if (!parsed.ok) return;
    expect(parsed.config.devices).toEqual([]);
    expect(parsed.config.daemon).toEqual(DEFAULT_DAEMON_SETTINGS);
  });

  it('shows every setting commented out, with the real default values', () => {
    for (const line of shipped.split('\n')) {
      // Nothing but comments, blank lines and the empty [daemon] header is active.
      expect(line === '' || line.startsWith('#') || line === '[daemon]', `active line: ${line}`).toBe(true);
    }
    for (const key of DAEMON_KEYS) expect(shipped).toMatch(new RegExp(`^#${key} = `, 'm'));
    for (const key of DEVICE_KEYS) expect(shipped).toMatch(new RegExp(`^#${key} = `, 'm'));

    const uncommented = parseConfig(uncommentEverySetting(shipped), ETC_PATH);
    expect(uncommented.ok ? [] : uncommented.errors).toEqual([]);
    if (!uncommented.ok) return;
    // Uncommenting the [daemon] lines changes nothing: they spell out the defaults.
    expect(uncommented.config.daemon).toEqual(DEFAULT_DAEMON_SETTINGS);
    // The four examples are valid entries, each using the keys it explains.
    expect(uncommented.config.devices).toHaveLength(4);
  });
});
