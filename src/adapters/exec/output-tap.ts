/**
 * One host's live output on its way to a run's `onOutput` listener: bytes are decoded
 * (a UTF-8 character split across two chunks stays whole), redacted as a stream, and delivered
 * one piece at a time in arrival order. The promise handed back to the transport settles when
 * the listener has taken the piece, so a slow listener pauses the host's output instead of
 * piling it up here.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../../logger.js';
import { StreamingRedactor } from './streaming-redactor.js';
import type { OutputStreamName } from './types.js';

/** Receives output as it arrives, already redacted; the next piece waits for its promise. */
export type OutputListener = (host: string, stream: OutputStreamName, text: string) => void | Promise<void>;

interface StreamState {
  decoder: StringDecoder;
  redactor: StreamingRedactor;
}

export class OutputTap {
  private readonly streams: Record<OutputStreamName, StreamState>;
  /** Every delivery chains on the previous one: the listener sees one piece at a time. */
  private chain: Promise<void> = Promise.resolve();
  private failed = false;
  private ended = false;

  constructor(
    private readonly host: string,
    secrets: readonly string[],
    private readonly listener: OutputListener,
    private readonly logger?: Logger,
  ) {
    const state = (): StreamState => ({ decoder: new StringDecoder('utf8'), redactor: new StreamingRedactor(secrets) });
    this.streams = { stdout: state(), stderr: state() };
  }

  /** Raw bytes from the transport; resolves once the listener took what could be released. */
  write(stream: OutputStreamName, chunk: Buffer): Promise<void> | undefined {
    if (this.failed || this.ended) return undefined;
    const s = this.streams[stream];
    return this.deliver(stream, s.redactor.push(s.decoder.write(chunk)));
  }

  /** After the host finished: releases what was held back and waits for the listener. */
  async end(): Promise<void> {
    if (this.ended) return;
    for (const name of ['stdout', 'stderr'] as const) {
      const s = this.streams[name];
      void this.deliver(name, s.redactor.push(s.decoder.end()) + s.redactor.end());
    }
    // Late chunks (a transport that gave up waiting on a stalled listener) are not delivered.
    this.ended = true;
    await this.chain;
  }

  private deliver(stream: OutputStreamName, text: string): Promise<void> | undefined {
    if (text === '' || this.failed || this.ended) return undefined;
    this.chain = this.chain.then(async () => {
      if (this.failed) return;
      try {
        await this.listener(this.host, stream, text);
      } catch (err) {
        // A broken listener must not break the run: the result still carries the output.
        this.failed = true;
        this.logger?.warn({ host: this.host, err: err instanceof Error ? err.message : String(err) }, 'output listener failed; live output stopped for this host');
      }
    });
    return this.chain;
  }
}
