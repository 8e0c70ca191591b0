/**
 * A running ticket's progress for its channel message: a bounded rolling tail of the output as
 * it streams (already redacted by the engine), handed to `push` at most once per `everyMs` and
 * only when it changed.
 *
 * "At most once per everyMs" is counted from the end of the previous push (the channel post
 * that opened the message counts as one): Slack sees two updates of the message at least
 * `everyMs` apart however long each call took, which keeps within chat.update's rate limit. No
 * timer runs while nothing new arrives. close() waits for a push in flight, so the final
 * message (finished()) is never overwritten by a late progress update.
 */

/** Cuts text to its last `max` characters, marking the cut. */
export function tailOf(text: string, max: number): string {
  return text.length > max ? '…' + text.slice(text.length - max + 1) : text;
}

export class ProgressFeed {
  private text = '';
  /** Some output was dropped from the front. */
  private cut = false;
  private changed = false;
  private lastAt = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private pushing: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly everyMs: number,
    private readonly maxChars: number,
    private readonly push: (tail: string) => Promise<void>,
  ) {}

  /** The message was (re)written now by someone else (the post that opened it). */
  touched(): void {
    this.lastAt = performance.now();
  }

  add(text: string): void {
    if (this.closed || text === '') return;
    // Only the last maxChars can ever be shown: the rest is dropped as it comes.
    const joined = this.text + text;
    if (joined.length > this.maxChars) this.cut = true;
    this.text = joined.length > this.maxChars ? joined.slice(joined.length - this.maxChars) : joined;
    this.changed = true;
    this.schedule();
  }

  /** What a message would show now. */
  tail(): string {
    return this.cut ? '…' + this.text.slice(1) : this.text;
  }

  private schedule(): void {
    if (this.closed || this.timer || this.pushing || !this.changed) return;
    const wait = Math.max(0, this.lastAt + this.everyMs - performance.now());
    this.timer = setTimeout(() => this.fire(), Math.ceil(wait));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    if (this.closed || !this.changed) return;
    // A timer may fire a little early: wait out the rest rather than push too soon.
    if (performance.now() - this.lastAt < this.everyMs) return this.schedule();
    this.changed = false;
    const snapshot = this.tail();
    this.pushing = this.push(snapshot)
      .catch(() => undefined)
      .finally(() => {
        this.lastAt = performance.now();
        this.pushing = undefined;
        this.schedule();
      });
  }

  /** No more pushes; resolves once one in flight has ended. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.pushing;
  }
}
