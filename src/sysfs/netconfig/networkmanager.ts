/**
 * NetworkManager keyfile connection profiles (nm-settings-keyfile(5)): a profile that autoconnects
 * and is bound to an interface name or MAC address uses that interface. Pure.
 */
import { iniBool, parseIni } from './ini.js';
import type { NetConfigUse } from './types.js';

export function parseNmConnection(text: string, file: string): NetConfigUse | null {
  const entries = parseIni(text);
  const get = (section: string[], key: string) => entries.find((e) => section.includes(e.section) && e.key === key);
  const autoconnect = get(['connection'], 'autoconnect');
  if (autoconnect && iniBool(autoconnect.value) === false) return null;
  const ifname = get(['connection'], 'interface-name');
  const mac = get(['ethernet', '802-3-ethernet', 'wifi', '802-11-wireless'], 'mac-address');
  if (!ifname?.value && !mac?.value) return null;
  const id = get(['connection'], 'id')?.value;
  const master = get(['connection'], 'master') ?? get(['connection'], 'controller');
  const why = master?.value ? `is a port of ${master.value} (NetworkManager profile${id ? ` "${id}"` : ''})` : `is used by the NetworkManager profile${id ? ` "${id}"` : ''}`;
  return {
    selector: { ...(ifname?.value ? { names: [ifname.value] } : {}), ...(mac?.value ? { macs: [mac.value.toLowerCase()] } : {}) },
    file,
    line: (ifname ?? mac)!.line,
    why,
    tool: 'NetworkManager',
  };
}
