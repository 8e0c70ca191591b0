/** The wait after `attempts` failed attempts: `baseMs` after the first, doubled after each further one, never above `maxMs`. */
export function exponentialBackoffMs(attempts: number, baseMs: number, maxMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, attempts - 1), maxMs);
}
