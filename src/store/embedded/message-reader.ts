/**
 * Cuts one connection's byte stream into wire messages.
 *
 * Chunks are kept in a list with a running length and copied once, when the message they
 * belong to is complete (a message that arrives in one chunk is not copied at all): before,
 * every read re-concatenated everything buffered, so a 47 MB message arriving in 64 KB reads
 * was copied about 700 times. A length outside 16..maxMessageSizeBytes is refused as soon as
 * its 4 bytes are in, before anything more is buffered.
 */
import { WireError } from './wire.js';

export class MessageReader {
  private chunks: Buffer[] = [];
  private length = 0;

  /**
   * @param maxMessageSizeBytes largest length accepted; `limitName` names the setting in the
   * refusal. Both can change (a connection that authenticates gets the bigger limit).
   */
  constructor(
    private maxMessageSizeBytes: number,
    private limitName = 'maxMessageSizeBytes',
  ) {}

  setLimit(maxMessageSizeBytes: number, limitName: string): void {
    this.maxMessageSizeBytes = maxMessageSizeBytes;
    this.limitName = limitName;
  }

  /** Bytes received and not yet handed out as part of a complete message. */
  get bufferedBytes(): number {
    return this.length;
  }

  /** Adds a chunk; returns the messages it completed, in order. Throws WireError on a bad length. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.length += chunk.length;
    const out: Buffer[] = [];
    while (this.length >= 4) {
      const len = this.peekLength();
      if (len < 16 || len > this.maxMessageSizeBytes) {
        throw new WireError(`message length ${len} is outside 16..${this.maxMessageSizeBytes} (${this.limitName})`);
      }
      if (this.length < len) break;
      out.push(this.take(len));
    }
    return out;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= 4) return first.readInt32LE(0);
    const head = Buffer.alloc(4);
    let at = 0;
    for (const c of this.chunks) {
      const n = c.copy(head, at, 0, Math.min(c.length, 4 - at));
      at += n;
      if (at === 4) break;
    }
    return head.readInt32LE(0);
  }

  private take(len: number): Buffer {
    const first = this.chunks[0]!;
    let msg: Buffer;
    if (first.length >= len) {
      msg = first.subarray(0, len);
      if (first.length === len) this.chunks.shift();
      else this.chunks[0] = first.subarray(len);
    } else {
      msg = Buffer.allocUnsafe(len);
      let at = 0;
      while (at < len) {
        const c = this.chunks[0]!;
        const n = Math.min(c.length, len - at);
        c.copy(msg, at, 0, n);
        at += n;
        if (n === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(n);
      }
    }
    this.length -= len;
    return msg;
  }
}
