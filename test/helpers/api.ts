/**
 * Calling the bot's HTTP API from tests: requests with a bearer token on loopback, tokens made
 * the way people make them (`/opsgate token create` over signed Slack requests, the token read
 * from the ephemeral answer), and a reader of the server-sent progress streams that resolves
 * with every event once the stream ends.
 */
import http from 'node:http';
import { runCommand, type TestOpsgate } from './opsgate.js';

/** Told every API answer's text and every stream chunk, for looking for what must never leave. */
export const apiTaps = new Set<(text: string) => void>();
const tap = (text: string) => {
  for (const f of apiTaps) f(text);
};

export interface ApiResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body as JSON (undefined when it is not). */
  json: any;
}

export interface ApiRequest {
  token?: string;
  /** A JSON body (sent as application/json unless `contentType` says otherwise). */
  body?: unknown;
  /** A raw body, sent as it is. */
  raw?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  /** Send the body in chunks without a content-length. */
  chunked?: boolean;
}

export function apiRequest(port: number, method: string, path: string, r: ApiRequest = {}): Promise<ApiResponse> {
  const payload = r.raw !== undefined ? Buffer.from(r.raw) : r.body !== undefined ? Buffer.from(JSON.stringify(r.body)) : undefined;
  const headers: Record<string, string> = { ...r.headers };
  if (r.token) headers.authorization = `Bearer ${r.token}`;
  if (payload) headers['content-type'] = r.contentType ?? 'application/json';
  if (payload && !r.chunked) headers['content-length'] = String(payload.length);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: path.startsWith('/api/') ? path : `/api/v1${path}`, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        tap(text);
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (payload && r.chunked) {
      // Pieces of 512 bytes: the server sees the body grow past its cap as it streams.
      for (let i = 0; i < payload.length; i += 512) req.write(payload.subarray(i, i + 512));
      req.end();
    } else req.end(payload);
  });
}

export interface SseEvent {
  event: string;
  data: any;
}

/**
 * Reads a progress stream until the server ends it, or until an event's data satisfies `until`
 * (the stream is then closed by the reader); rejects after `timeoutMs`.
 */
export function readEvents(port: number, path: string, token: string, opts: { until?: (data: any) => boolean; onEvent?: (e: SseEvent) => void; timeoutMs?: number } = {}): Promise<{ status: number; contentType: string; events: SseEvent[] }> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    let done = false;
    const req = http.get({ host: '127.0.0.1', port, path: `/api/v1${path}`, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
      let buf = '';
      const events: SseEvent[] = [];
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        tap(c);
        buf += c;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const lines = block.split('\n');
          const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
          const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (!event) continue;
          events.push({ event, data: data ? JSON.parse(data) : null });
          opts.onEvent?.(events.at(-1)!);
          if (opts.until?.(events.at(-1)!.data)) return finish();
        }
      });
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), events });
      };
      res.on('end', finish);
      res.on('close', finish);
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`the stream ${path} did not end within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err) => {
      if (done) return;
      clearTimeout(timer);
      reject(err);
    });
  });
}

export const TOKEN_RE = /ogt_[A-Za-z0-9_-]{43}/;

/** `/opsgate token create <args>` as `user`; the token from the answer, and the answer's text. */
export async function createToken(t: TestOpsgate, user: { id: string }, args: string): Promise<{ token: string; id: string; answer: string }> {
  const r = await runCommand(t, '/opsgate', `token create ${args}`, user);
  const answer = r.text + JSON.stringify(r.blocks);
  const token = TOKEN_RE.exec(answer)?.[0];
  const id = /AT-[0-9a-f]{10}/.exec(answer)?.[0];
  if (!token || !id) throw new Error(`no token in the answer: ${answer.slice(0, 400)}`);
  return { token, id, answer };
}
