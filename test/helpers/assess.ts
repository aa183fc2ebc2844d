/** The engine's pure assessment of a config on a fake host, as the CLI's plan would see it. */
import { parseConfig } from '../../src/config/index.js';
import { assess, observe, type Assessment } from '../../src/engine.js';
import type { OwnedState, Plan, Snapshot, Verdict } from '../../src/model.js';
import type { FakeHost } from '../fake/tree.js';
import { CONFIG } from './fake-hosts.js';

export async function assessOn(host: FakeHost, toml: string, owned: OwnedState = { devices: {} }): Promise<Assessment & { snapshot: Snapshot }> {
  const parsed = parseConfig(toml, CONFIG);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const snapshot = await observe(host.root);
  return { ...assess(parsed.config, snapshot, owned), snapshot };
}

export function verdict(p: Plan, address: string): Verdict {
  const v = p.verdicts.find((x) => x.address === address);
  if (!v) throw new Error(`no verdict for ${address}`);
  return v;
}
