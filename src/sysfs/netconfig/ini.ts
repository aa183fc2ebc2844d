/** The INI dialect of systemd unit files and NetworkManager keyfiles, with line numbers kept. */
export interface IniEntry {
  section: string;
  key: string;
  value: string;
  line: number;
}

export function parseIni(text: string): IniEntry[] {
  const entries: IniEntry[] = [];
  let section = '';
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!.trim();
      return;
    }
    const eq = line.indexOf('=');
    if (eq < 0) return;
    entries.push({ section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim(), line: i + 1 });
  });
  return entries;
}

/** systemd boolean spellings (parse_boolean in src/basic/parse-util.c). */
export function iniBool(value: string): boolean | null {
  if (/^(1|yes|y|true|t|on)$/i.test(value)) return true;
  if (/^(0|no|n|false|f|off)$/i.test(value)) return false;
  return null;
}
