/**
 * The gate in front of Bolt's HTTP endpoint (`POST /slack/events`). Every request passes these
 * checks, in this order, before Bolt reads a byte of it:
 *
 * 1. **Size**: the body is read up to Bolt's own limit (4 MB); more is a 413 with a coded body.
 * 2. **Signature** (401, empty body, as Bolt answers): Bolt's own `verifySlackRequest` over the
 *    exact bytes, so its semantics hold (HMAC-SHA256, timing-safe compare, stale after 5 min).
 *    Added here: a timestamp must be decimal digits, and one more than 5 minutes in the *future*
 *    is refused like a stale one (Bolt accepts it, which would let a captured request be
 *    replayed for as long as its timestamp stays ahead of our clock).
 * 3. **Replay** (409 with a coded body): a signature seen within its window is refused, so an
 *    identical request is never acted on twice. When the duplicate says it is Slack's own retry
 *    (`X-Slack-Retry-Num`), it is answered 200 with an empty body instead: the first delivery is
 *    being (or was) handled, and a non-2xx answer would only make Slack retry again.
 * 4. **UTF-8** (400 with a coded body, once the bytes' signature is checked): Slack sends UTF-8 only.
 * 5. **Shape** (400 with a coded body): the body must be a JSON object, or a form whose
 *    `payload` is one, with the fields Bolt routes on of the right kind, of a `type` opsgate has
 *    listeners for, and a `url_verification` challenge of Slack's form (body-shape.ts).
 *
 * Slack's unsigned `ssl_check=1` probe goes to Bolt unchecked, as before: Bolt answers it 200
 * and drops whatever else the form carried. Everything that passes goes to Bolt's own listener
 * with the body already buffered, and Bolt verifies the signature a second time.
 *
 * Each request gets a request id (response header `x-opsgate-request-id`, `reqId` on every log
 * line written while it is handled, `context.requestId` for listeners). A refused request is
 * logged once, at warn, with its code and reason, never with its body.
 */
import { isUtf8 } from 'node:buffer';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import { URL } from 'node:url';
import { defaultBodyLimit, verifySlackRequest, type BufferedIncomingMessage } from '@slack/bolt';
import { AppError, ErrorCode } from '../../errors.js';
import { newRequestId, runInRequest, type Logger } from '../../logger.js';
import { parseSlackBody } from './body-shape.js';
import { ReplayCache, SIGNATURE_WINDOW_SECONDS } from './replay-cache.js';

export const REQUEST_ID_HEADER = 'x-opsgate-request-id';

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

export interface RequestGuardOptions {
  signingSecret: string;
  /** The paths Bolt serves Slack's requests on (the HTTPReceiver's `endpoints`). */
  endpoints: string[];
  logger: Logger;
  replays: ReplayCache;
  bodyLimit?: number;
  now?: () => number;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly coded?: AppError,
  ) {
    super(reason);
  }
}

/** Wraps the HTTPReceiver's request listener: Slack requests are checked first, other routes pass. */
export function guardSlackRequests(boltListener: Listener, opts: RequestGuardOptions): Listener {
  const now = opts.now ?? Date.now;
  const log = opts.logger.child({ component: 'slack-guard' });
  const bodyLimit = opts.bodyLimit ?? defaultBodyLimit;
  let evictionsReported = 0;
  let lastEvictionReport = -Infinity;

  /** Says so (at most once a minute) when the cache's cap pushed out signatures still inside their window. */
  function reportEvictions(): void {
    const evicted = opts.replays.evictedWithinWindow;
    if (evicted === evictionsReported || now() - lastEvictionReport < 60_000) return;
    lastEvictionReport = now();
    log.warn({ evicted: evicted - evictionsReported, held: opts.replays.size }, 'replay cache full: signatures still inside their window were forgotten (a replay of those would pass)');
    evictionsReported = evicted;
  }

  async function check(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req, bodyLimit);
    const text = raw.toString();
    const contentType = req.headers['content-type'];
    // Bolt answers this unsigned probe itself and throws the rest of the form away.
    if (contentType === 'application/x-www-form-urlencoded' && parseQuery(text).ssl_check === '1') return forward(req, res, raw);
    if (!isUtf8(raw)) {
      // Decoding replaced the bad bytes, so the signature (over the bytes) could not match the
      // text and a correctly signed request was answered 401 as if forged. Slack sends UTF-8
      // only: once the bytes are known to be signed, say what is wrong with them.
      verifyBytes(req, raw);
      throw new Refusal(400, 'body not UTF-8', new AppError(ErrorCode.BadParameter, 'the request body is not valid UTF-8'));
    }
    const { timestamp, signature } = verify(req, text);
    if (!opts.replays.firstTime(signature, timestamp)) {
      if (req.headers['x-slack-retry-num'] !== undefined) {
        log.info({ retryNum: String(req.headers['x-slack-retry-num']).slice(0, 8) }, 'Slack retried a request already received: acknowledged, not handled again');
        res.writeHead(200).end();
        return;
      }
      throw new Refusal(409, 'replayed signature', new AppError(ErrorCode.BadParameter, 'this signed request was already received'));
    }
    reportEvictions();
    const parsed = parseSlackBody(text, contentType);
    if ('problem' in parsed) throw new Refusal(400, 'malformed body', parsed.problem);
    forward(req, res, raw);
  }

  function verify(req: IncomingMessage, text: string): { timestamp: number; signature: string } {
    const signature = req.headers['x-slack-signature'];
    const tsHeader = req.headers['x-slack-request-timestamp'];
    if (typeof signature !== 'string' || typeof tsHeader !== 'string') throw new Refusal(401, 'missing signature headers');
    if (!/^\d{1,12}$/.test(tsHeader)) throw new Refusal(401, 'timestamp is not a number of seconds');
    const timestamp = Number(tsHeader);
    if (timestamp > Math.floor(now() / 1000) + SIGNATURE_WINDOW_SECONDS) throw new Refusal(401, 'timestamp more than 5 minutes in the future');
    try {
      verifySlackRequest({ signingSecret: opts.signingSecret, body: text, headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp }, nowMilliseconds: now() });
    } catch (err) {
      throw new Refusal(401, /stale/.test((err as Error).message) ? 'timestamp more than 5 minutes old' : 'signature mismatch');
    }
    return { timestamp, signature };
  }

  /** The same checks over the exact bytes, for a body that is not UTF-8 (Bolt's verify takes text). */
  function verifyBytes(req: IncomingMessage, raw: Buffer): void {
    const signature = req.headers['x-slack-signature'];
    const tsHeader = req.headers['x-slack-request-timestamp'];
    if (typeof signature !== 'string' || typeof tsHeader !== 'string') throw new Refusal(401, 'missing signature headers');
    if (!/^\d{1,12}$/.test(tsHeader)) throw new Refusal(401, 'timestamp is not a number of seconds');
    if (Math.abs(Number(tsHeader) - Math.floor(now() / 1000)) > SIGNATURE_WINDOW_SECONDS) throw new Refusal(401, 'timestamp more than 5 minutes away');
    const expected = Buffer.from(`v0=${createHmac('sha256', opts.signingSecret).update(`v0:${tsHeader}:`).update(raw).digest('hex')}`);
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new Refusal(401, 'signature mismatch');
  }

  function forward(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    // Bolt reads a request that already has `rawBody` as it is, instead of reading the stream.
    (req as BufferedIncomingMessage).rawBody = raw;
    boltListener(req, res);
  }

  function refuse(res: ServerResponse, requestId: string, err: unknown): void {
    if (!(err instanceof Refusal)) {
      log.error({ err }, 'checking a Slack request failed');
      if (!res.headersSent) res.writeHead(500).end();
      return;
    }
    const code = err.coded?.code ?? (err.status === 413 ? ErrorCode.BadParameter : ErrorCode.Permission);
    log.warn({ code, status: err.status, reason: err.reason, detail: err.coded?.message }, 'Slack request refused');
    if (res.headersSent) return;
    if (!err.coded) {
      res.writeHead(err.status).end();
      return;
    }
    res.writeHead(err.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: false, code, error: err.coded.toUserText(), request_id: requestId }));
  }

  return (req, res) => {
    const requestId = newRequestId();
    res.setHeader(REQUEST_ID_HEADER, requestId);
    runInRequest(requestId, () => {
      // The same routing test as HTTPReceiver's, so no request reaches Bolt's event handler unchecked.
      const { pathname } = new URL(req.url ?? '', 'http://localhost');
      if (!(opts.endpoints.includes(pathname) && req.method?.toUpperCase() === 'POST')) return boltListener(req, res);
      check(req, res).catch((err: unknown) => refuse(res, requestId, err));
    });
  };
}

/** Reads the whole body, refusing (413) past `limit` bytes without keeping them. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Keep draining (so the 413 can be written) but keep nothing.
        chunks.length = 0;
        reject(new Refusal(413, `body larger than ${limit} bytes`, new AppError(ErrorCode.BadParameter, `the request body is larger than ${limit.toLocaleString('en')} bytes`)));
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
