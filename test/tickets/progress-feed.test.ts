/**
 * The progress feed's rules on a fake clock (timers and performance.now moved by hand): at most
 * one push per interval counted from the end of the previous one, none when nothing changed, a
 * bounded tail, and close() waiting for a push in flight.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProgressFeed } from '../../src/services/tickets/progress-feed.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** A push that resolves when the test says so, recording what it got and when it started. */
function pusher() {
  const pushes: Array<{ tail: string; at: number; done: () => void }> = [];
  const push = (tail: string) => new Promise<void>((resolve) => pushes.push({ tail, at: performance.now(), done: resolve }));
  return { pushes, push };
}

describe('ProgressFeed', () => {
  it('pushes at most once per interval from the end of the previous push, only when the output changed', async () => {
    const { pushes, push } = pusher();
    const feed = new ProgressFeed(1000, 100, push);
    feed.touched(); // the post that opened the message
    feed.add('line 1\n');
    await vi.advanceTimersByTimeAsync(999);
    expect(pushes).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(pushes.map((p) => p.tail)).toEqual(['line 1\n']);

    // More output while the push is slow: nothing new starts until it has ended, then a full interval.
    feed.add('line 2\n');
    await vi.advanceTimersByTimeAsync(3000);
    expect(pushes).toHaveLength(1);
    pushes[0]!.done();
    await vi.advanceTimersByTimeAsync(999);
    expect(pushes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(pushes.map((p) => p.tail)).toEqual(['line 1\n', 'line 1\nline 2\n']);
    pushes[1]!.done();

    // Nothing new: no push, however long.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(pushes).toHaveLength(2);
    await feed.close();
  });

  it('keeps only the last maxChars, marked as cut', async () => {
    const { pushes, push } = pusher();
    const feed = new ProgressFeed(10, 20, push);
    for (let i = 0; i < 100; i++) feed.add(`${i},`);
    expect(feed.tail()).toHaveLength(20);
    expect(feed.tail().startsWith('…')).toBe(true);
    expect(feed.tail().endsWith('98,99,')).toBe(true);
    await vi.advanceTimersByTimeAsync(10);
    expect(pushes[0]!.tail).toBe(feed.tail());
    pushes[0]!.done();
    await feed.close();
  });

  it('close() waits for a push in flight and stops the ones to come', async () => {
    const { pushes, push } = pusher();
    const feed = new ProgressFeed(10, 100, push);
    feed.add('a');
    await vi.advanceTimersByTimeAsync(10);
    expect(pushes).toHaveLength(1);
    feed.add('b');
    let closed = false;
    const closing = feed.close().then(() => (closed = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(closed).toBe(false);
    pushes[0]!.done();
    await closing;
    await vi.advanceTimersByTimeAsync(100);
    expect(pushes).toHaveLength(1);
    feed.add('c');
    await vi.advanceTimersByTimeAsync(100);
    expect(pushes).toHaveLength(1);
  });
});
