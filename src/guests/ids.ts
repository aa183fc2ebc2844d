/** "10de:1b80" → [0x10de, 0x1b80]; null when absent or not two 4-digit hex numbers (0x prefixes allowed). */
export function parseIdPair(text: string | null): [number, number] | null {
  if (text === null) return null;
  const m = /^(?:0x)?([0-9a-f]{4}):(?:0x)?([0-9a-f]{4})$/i.exec(text.trim());
  return m ? [parseInt(m[1] ?? '', 16), parseInt(m[2] ?? '', 16)] : null;
}
