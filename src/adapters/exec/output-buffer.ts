/** Collects a stream's output up to a limit, so one chatty host cannot exhaust memory. */
export class OutputBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  /** True once bytes were dropped. */
  overflowed = false;

  constructor(private readonly limitBytes: number) {}

  push(chunk: Buffer): void {
    const room = this.limitBytes - this.size;
    if (room <= 0) {
      if (chunk.length > 0) this.overflowed = true;
      return;
    }
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept.length < chunk.length) this.overflowed = true;
    this.chunks.push(kept);
    this.size += kept.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}
