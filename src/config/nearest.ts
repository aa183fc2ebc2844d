/** Edit distance (insert/delete/substitute, each 1), enough to catch typos in key names. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitute = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitute));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
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
