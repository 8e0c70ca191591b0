/** MongoDB's duplicate-key error (E11000): a unique index refused a write. */
export const DUPLICATE_KEY = 11000;

/** Whether `err` is the store refusing a write on a unique index (any driver or server error shape). */
export function isDuplicateKey(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === DUPLICATE_KEY;
}
