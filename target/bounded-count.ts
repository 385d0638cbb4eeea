/** The key under which a bounded counter map counts the keys it no longer has room for. */
export const OTHER_KEY = "(other)";

/**
 * Adds one to `key` in `map`, keeping at most `maxKeys` distinct keys: once full, a new key is
 * counted under {@link OTHER_KEY} instead (which may take the map one key past `maxKeys`), so
 * keys chosen by clients cannot grow memory without bound. Allocates nothing for a known key.
 */
export function bump(map: Map<string, number>, key: string, maxKeys: number): void {
  const known = map.get(key);
  if (known !== undefined) map.set(key, known + 1);
  else if (map.size < maxKeys) map.set(key, 1);
  else map.set(OTHER_KEY, (map.get(OTHER_KEY) ?? 0) + 1);
}
