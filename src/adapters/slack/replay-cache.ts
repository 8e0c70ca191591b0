/**
 * Signatures of the Slack requests this instance accepted in the last few minutes, so an
 * identical request (same timestamp, same body, hence same signature) is recognised when it
 * comes again. A signature is kept only until its timestamp falls out of the 5-minute window:
 * from then on the timestamp check refuses the request anyway. Memory is bounded by `max`
 * entries (least recently seen go first when Slack sends more than that within 5 minutes).
 *
 * Per process: instances behind a load balancer each keep their own (see README).
 */
import { LRUCache } from 'lru-cache';

/** Slack's window (and Bolt's): a request more than 5 minutes from our clock is refused. */
export const SIGNATURE_WINDOW_SECONDS = 5 * 60;
/** Far above what one workspace sends in 5 minutes; about 150 bytes an entry. */
export const DEFAULT_REPLAY_CACHE_SIZE = 50_000;

export class ReplayCache {
  private readonly seen: LRUCache<string, true>;
  private evictedEarly = 0;

  constructor(
    max = DEFAULT_REPLAY_CACHE_SIZE,
    private readonly now: () => number = Date.now,
  ) {
    this.seen = new LRUCache<string, true>({
      max,
      ttlAutopurge: false,
      // Ask the clock every time (no cached 'now'): a check is one call, and tests move the clock.
      ttlResolution: 0,
      perf: { now: this.now },
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') this.evictedEarly++;
      },
    });
  }

  /**
   * Records a verified request's signature; false when it was already recorded within the
   * window (a replay or a duplicate delivery).
   */
  firstTime(signature: string, timestampSec: number): boolean {
    if (this.seen.has(signature)) return false;
    // Accepted until floor(now/1000) - 300 > timestamp, i.e. up to (timestamp + 301) s.
    const ttl = Math.max(1, (timestampSec + SIGNATURE_WINDOW_SECONDS + 1) * 1000 - this.now());
    this.seen.set(signature, true, { ttl });
    return true;
  }

  /** Entries held now (expired ones are dropped lazily, so this may count a few of them). */
  get size(): number {
    return this.seen.size;
  }

  /** Signatures pushed out by the size cap while still inside the window: each could be replayed once. */
  get evictedWithinWindow(): number {
    return this.evictedEarly;
  }
}
