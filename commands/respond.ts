/** Turning a service's outcome into a reply: coded errors shown safely, the rest logged. */
import type { Logger } from '../src/logger.js';
import { asAppError, ErrorCode } from '../src/errors.js';
import { errorMessage } from '../blocks/errors.js';
import type { Message } from '../blocks/kit.js';
import { fitMessage } from '../blocks/limits.js';

/** An answer in the acknowledgement itself: only the person sees it, and it needs no response_url. */
export function ephemeralAck(m: Message): Message & { response_type: 'ephemeral' } {
  return { response_type: 'ephemeral', ...fitMessage(m) };
}

/** Runs `work`; a thrown error becomes the one safe message for the person. */
export async function safely<M extends Message | null>(logger: Logger, what: string, work: () => Promise<M>): Promise<M | Message> {
  try {
    return await work();
  } catch (err) {
    const appErr = asAppError(err);
    if (appErr.code === ErrorCode.Internal) logger.error({ err, what }, 'listener failed');
    return errorMessage(appErr);
  }
}

export type Raced<T> = { done: true; value: T } | { done: true; error: unknown } | { done: false };

/** `p`'s outcome when it settles within `ms`, else `{ done: false }` (a form's answer must come in 3 s). */
export async function within<T>(p: Promise<T>, ms: number): Promise<Raced<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Raced<T>>((resolve) => (timer = setTimeout(() => resolve({ done: false }), ms)));
  try {
    return await Promise.race([p.then((value) => ({ done: true as const, value }), (error: unknown) => ({ done: true as const, error })), late]);
  } finally {
    clearTimeout(timer);
  }
}
