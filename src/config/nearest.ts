/** Edit distance where an insert, delete, substitution or swap of two neighbours costs 1 ("deamon" → "daemon"). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1] ?? [];
      let best = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      row.push(best);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}

const canonical = (key: string): string => key.toLowerCase().replace(/-/g, '_');

/**
 * The known key the admin most likely meant, or null when none is close:
 * same key with other case or "-" for "_", a small typo, or an abbreviation of a longer key.
 */
export function nearestKey(typed: string, known: readonly string[]): string | null {
  const wanted = canonical(typed);
  const exact = known.find((k) => canonical(k) === wanted);
  if (exact !== undefined) return exact;
  let best: { key: string; distance: number } | null = null;
  for (const key of known) {
    const distance = editDistance(wanted, canonical(key));
    if (distance <= Math.max(1, Math.floor(key.length / 4)) && (best === null || distance < best.distance)) {
      best = { key, distance };
    }
  }
  if (best !== null) return best.key;
  if (wanted.length >= 4) return known.find((k) => canonical(k).startsWith(wanted)) ?? null;
  return null;
}
