/** Reads a process's output stream into its buffer and a listener, pausing while the listener is busy. */
import type { Readable } from 'node:stream';

/**
 * Calls `onChunk` for every chunk; when it returns a promise the stream is paused until the
 * promise settles, so a slow consumer holds the producer back instead of buffering here.
 * Resolves when the stream has ended (every chunk handed over).
 */
export function readOutput(source: Readable, onChunk: (chunk: Buffer) => void | Promise<void> | undefined): Promise<void> {
  source.on('data', (chunk: Buffer) => {
    const busy = onChunk(chunk);
    if (!busy) return;
    source.pause();
    const go = () => source.resume();
    busy.then(go, go);
  });
  return new Promise((resolve) => {
    if (source.readableEnded || source.destroyed) resolve();
    source.once('end', () => resolve());
    source.once('close', () => resolve());
  });
}
