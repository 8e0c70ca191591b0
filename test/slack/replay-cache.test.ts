/**
 * The replay cache behind the HTTP guard (issue 14 item 13) stays bounded: at most `max`
 * signatures, each forgotten once its timestamp is out of Slack's 5-minute window (the
 * timestamp check refuses it from then on). The refusals themselves are tested through the
 * real endpoint in receiver-guard.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ReplayCache } from '../../src/adapters/slack/replay-cache.js';

describe('replay cache', () => {
  it('knows a signature again within its window and forgets it after', () => {
    let now = 1_700_000_000_000;
    const cache = new ReplayCache(100, () => now);
    const ts = now / 1000;
    expect(cache.firstTime('v0=a', ts)).toBe(true);
    expect(cache.firstTime('v0=a', ts)).toBe(false);
    now += 300_000; // Bolt still accepts the timestamp: still a replay
    expect(cache.firstTime('v0=a', ts)).toBe(false);
    now += 1_001; // now stale: the timestamp check refuses it, the cache may forget it
    expect(cache.firstTime('v0=a', ts)).toBe(true);
  });

  it('keeps a future timestamp until that timestamp leaves the window', () => {
    let now = 1_700_000_000_000;
    const cache = new ReplayCache(100, () => now);
    const ts = now / 1000 + 240;
    expect(cache.firstTime('v0=f', ts)).toBe(true);
    now += 500_000;
    expect(cache.firstTime('v0=f', ts)).toBe(false);
  });

  it('holds at most max entries, and counts those pushed out while still inside their window', () => {
    const now = 1_700_000_000_000;
    const cache = new ReplayCache(100, () => now);
    for (let i = 0; i < 10_000; i++) cache.firstTime(`v0=${i}`, now / 1000);
    expect(cache.size).toBe(100);
    expect(cache.evictedWithinWindow).toBe(9_900);
    expect(cache.firstTime('v0=9999', now / 1000)).toBe(false);
  });
});
