/**
 * One signed slash command over a keep-alive agent, timed from send to the end of the app's
 * answer (its ack). Each body differs, as Slack's do: the app refuses a signature it has already
 * seen (replay).
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { SIGNING_SECRET } from '../test/helpers/opsgate.js';
import { signature } from '../test/helpers/slack-requests.js';

let sent = 0;

export interface SignedCommand {
  command: string;
  text: string;
  userId: string;
  userName: string;
  channelId?: string;
  /** Where the app's answer goes (a sink that drops it unless given). */
  responseUrl?: string;
}

/** A command's body and headers, signed ahead of time so the timed loop only writes bytes. */
export interface PreparedCommand {
  body: string;
  headers: http.OutgoingHttpHeaders;
}

export function prepareSignedCommand(c: SignedCommand): PreparedCommand {
  const ts = Math.floor(Date.now() / 1000);
  const body = new URLSearchParams({
    command: c.command,
    text: c.text,
    user_id: c.userId,
    user_name: c.userName,
    team_id: 'T0TEST',
    channel_id: c.channelId ?? 'C0BENCH',
    response_url: c.responseUrl ?? 'http://127.0.0.1:9/response/none',
    trigger_id: `bench.${++sent}.${process.pid}`,
  }).toString();
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': Buffer.byteLength(body),
      'x-slack-request-timestamp': String(ts),
      'x-slack-signature': signature(SIGNING_SECRET, ts, body),
    },
  };
}

export function sendPreparedCommand(agent: http.Agent, port: number, p: PreparedCommand): Promise<{ ms: number; ok: boolean; status: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/slack/events', method: 'POST', agent, headers: p.headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ms: performance.now() - started, ok: res.statusCode === 200, status: res.statusCode ?? 0 }));
    });
    req.on('error', () => resolve({ ms: performance.now() - started, ok: false, status: 0 }));
    req.end(p.body);
  });
}

export function sendSignedCommand(agent: http.Agent, port: number, c: SignedCommand): Promise<{ ms: number; ok: boolean; status: number }> {
  return sendPreparedCommand(agent, port, prepareSignedCommand(c));
}

/** Sends `total` commands at `rate` per second, open loop (a slow answer does not slow the sender). */
export async function openLoop<T>(rate: number, total: number, send: (i: number) => Promise<T>): Promise<{ results: T[]; seconds: number }> {
  const pending: Array<Promise<T>> = [];
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(send(i));
  }
  const results = await Promise.all(pending);
  return { results, seconds: (performance.now() - t0) / 1000 };
}
