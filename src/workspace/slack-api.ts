/**
 * Slack's side of the Web API, on loopback: the one implementation behind the tests' fake Slack
 * (test/helpers/fake-slack.ts re-exports it) and the local workspace (src/workspace/workspace.ts).
 * The app's WebClient is pointed at it with SLACK_API_URL; it records every call (method,
 * arguments, time) and answers like Slack does for the methods opsgate uses. `response_url`
 * posts land here too, under /response/<id>; uploads under /upload/<file id>.
 *
 * No test-framework imports: `npm start` runs it when Slack is not configured.
 */
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';

export interface RecordedCall {
  method: string;
  args: Record<string, unknown>;
  token?: string;
  at: number;
  /** What the fake answered (e.g. the `ts` a posted message got). */
  reply?: Record<string, unknown>;
}

export interface WorkspaceUser {
  id: string;
  email?: string;
  name?: string;
  realName?: string;
  isBot?: boolean;
  /** IANA time zone users.info reports (Slack's `tz`). */
  tz?: string;
}

function parseBody(raw: string, contentType: string): Record<string, unknown> {
  if (raw === '') return {};
  if (contentType.includes('application/json')) return JSON.parse(raw) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    // WebClient sends nested values (blocks, view, attachments) as JSON strings.
    if ((v.startsWith('{') || v.startsWith('[')) && v.length > 1) {
      try {
        out[k] = JSON.parse(v);
        continue;
      } catch {
        /* a plain string that happens to start with a brace */
      }
    }
    out[k] = v;
  }
  return out;
}

/** The bot scope each Web API method needs (none listed: no scope needed). */
export const METHOD_SCOPES: Record<string, string> = {
  'chat.postMessage': 'chat:write',
  'chat.update': 'chat:write',
  'chat.postEphemeral': 'chat:write',
  'conversations.open': 'im:write',
  'users.info': 'users:read',
  'users.lookupByEmail': 'users:read.email',
  'files.getUploadURLExternal': 'files:write',
  'files.completeUploadExternal': 'files:write',
};

/** A file announced with files.getUploadURLExternal, its bytes (once POSTed) and where it was shared. */
export interface Upload {
  fileId: string;
  filename: string;
  /** The length announced up front. */
  length: number;
  /** Set once the bytes arrived: a file on disk (a 50 MB upload is not kept in memory). */
  path?: string;
  bytes?: number;
  sha256?: string;
  /** Set by files.completeUploadExternal. */
  completed?: { channel: string; title?: string; comment?: string };
}

export class SlackApi {
  readonly calls: RecordedCall[] = [];
  readonly users = new Map<string, WorkspaceUser>();
  /** Methods forced to fail with the given Slack error code, e.g. { 'chat.postMessage': 'channel_not_found' }. */
  readonly failures = new Map<string, string>();
  /**
   * Methods (or '*' for all) answered with an HTTP error instead, as Slack down (5xx) or rate
   * limiting (429 with Retry-After) does; the call is still recorded, its reply `{ httpStatus }`.
   */
  readonly outages = new Map<string, { status: number; retryAfterSec?: number }>();
  /** Called with each call once it is recorded and answered (a bench indexes calls as they come). */
  readonly listeners = new Set<(c: RecordedCall) => void>();
  private server?: http.Server;
  /** Socket Mode: the app's WebSocket connection (opened after apps.connections.open). */
  private wss?: WebSocketServer;
  private socket?: WebSocket;
  private readonly socketAcks = new Map<string, (payload: unknown) => void>();
  private tsCounter = 0;
  /** Set by the local workspace: only this bot token is let in (Slack's not_authed / invalid_auth otherwise). */
  requiredToken?: string;
  private viewCounter = 0;
  private hashCounter = 0;
  /** The views this fake opened, as they stand now, with their current hash. */
  readonly views = new Map<string, { view: Record<string, unknown>; hash: string }>();
  private waiters: Array<() => void> = [];
  private uploadCounter = 0;
  private uploadDir?: string;
  /** Files by id, from files.getUploadURLExternal on. */
  readonly uploads = new Map<string, Upload>();
  url = '';

  /** @param scopes the bot's granted scopes; a call needing another scope fails with missing_scope, as Slack answers. */
  constructor(private readonly scopes?: string[]) {}

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      if ((req.url ?? '').startsWith('/upload/')) return void this.receiveUpload(req, res);
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const path = (req.url ?? '/').split('?')[0]!.replace(/^\/+/, '');
        let args: Record<string, unknown>;
        try {
          args = parseBody(raw, String(req.headers['content-type'] ?? ''));
        } catch {
          res.writeHead(400).end();
          return;
        }
        const auth = String(req.headers.authorization ?? '');
        const method = path.startsWith('response/') ? 'response_url' : path.replace(/^api\//, '');
        const call: RecordedCall = { method, args, at: Date.now(), token: auth.startsWith('Bearer ') ? auth.slice(7) : undefined };
        if (method === 'response_url') call.args = { ...args, response_id: path.slice('response/'.length) };
        this.calls.push(call);
        const outage = this.outages.get(method) ?? this.outages.get('*');
        const reply = outage ? { httpStatus: outage.status } : (this.authError(method, call.token) ?? this.answer(method, args));
        call.reply = reply;
        for (const l of this.listeners) l(call);
        if (outage) {
          res.writeHead(outage.status, { 'content-type': 'text/plain', ...(outage.retryAfterSec !== undefined ? { 'retry-after': String(outage.retryAfterSec) } : {}) });
          res.end(outage.status === 429 ? 'rate limited' : 'Slack is down');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(reply));
        }
        for (const w of this.waiters.splice(0)) w();
      });
    });
    this.wss = new WebSocketServer({ server: this.server, path: '/socket' });
    this.wss.on('connection', (ws) => {
      this.socket = ws;
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data)) as { envelope_id?: string; payload?: unknown };
        if (msg.envelope_id) this.socketAcks.get(msg.envelope_id)?.(msg.payload);
      });
      ws.send(JSON.stringify({ type: 'hello', num_connections: 1, connection_info: { app_id: 'A0OPSGATE' } }));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${port}/api/`;
    return this;
  }

  /** True once a Socket Mode app has connected. */
  get socketConnected(): boolean {
    return this.socket?.readyState === 1;
  }

  /**
   * Delivers an envelope over Socket Mode, as Slack does (`slash_commands`, `interactive`,
   * `events_api`), and resolves with the payload the app acked with.
   */
  sendEnvelope(type: string, payload: Record<string, unknown>, timeoutMs = 5000): Promise<unknown> {
    if (!this.socket) return Promise.reject(new Error('no Socket Mode connection'));
    const envelopeId = randomBytes(8).toString('hex');
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ack for envelope ${envelopeId}`)), timeoutMs);
      this.socketAcks.set(envelopeId, (p) => {
        clearTimeout(t);
        resolve(p);
      });
      this.socket!.send(JSON.stringify({ envelope_id: envelopeId, type, payload, accepts_response_payload: type !== 'events_api' }));
    });
  }

  /**
   * Sends one raw WebSocket message (anything, well-formed or not) to the connected app. With
   * `ackFor`, resolves with the payload the app acks envelope `ackFor` with; else at once.
   */
  sendRawSocketMessage(text: string, ackFor?: string, timeoutMs = 5000): Promise<unknown> {
    if (!this.socket) return Promise.reject(new Error('no Socket Mode connection'));
    if (ackFor === undefined) {
      this.socket.send(text);
      return Promise.resolve(undefined);
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ack for envelope ${ackFor}`)), timeoutMs);
      this.socketAcks.set(ackFor, (p) => {
        clearTimeout(t);
        resolve(p);
      });
      this.socket!.send(text);
    });
  }

  async stop(): Promise<void> {
    for (const c of this.wss?.clients ?? []) c.terminate();
    this.wss?.close();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    if (this.uploadDir) fs.rmSync(this.uploadDir, { recursive: true, force: true });
  }

  /** The bytes of an uploaded file (small files; large ones are read from `path`). */
  uploadedBytes(fileId: string): Buffer {
    const u = this.uploads.get(fileId);
    if (!u?.path) throw new Error(`no bytes were uploaded for ${fileId}`);
    return fs.readFileSync(u.path);
  }

  /**
   * The upload URL: the body is streamed to a file (hashed on the way), as Slack's files host
   * stores it; recorded as a call `file_upload` once it is complete.
   */
  private receiveUpload(req: http.IncomingMessage, res: http.ServerResponse): void {
    const fileId = (req.url ?? '').slice('/upload/'.length).split('?')[0]!;
    const u = this.uploads.get(fileId);
    if (!u || req.method !== 'POST' || u.path) {
      req.resume();
      res.writeHead(404).end();
      return;
    }
    this.uploadDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'opsgate-workspace-files-'));
    const file = path.join(this.uploadDir, fileId);
    const out = fs.createWriteStream(file);
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    req.pipe(out);
    out.on('finish', () => {
      Object.assign(u, { path: file, bytes, sha256: hash.digest('hex') });
      this.calls.push({ method: 'file_upload', args: { file_id: fileId, bytes, content_length: req.headers['content-length'], authorization: req.headers.authorization ?? null }, at: Date.now() });
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`OK - ${bytes}`);
      for (const w of this.waiters.splice(0)) w();
    });
    req.on('error', () => out.destroy());
  }

  addUser(u: WorkspaceUser): void {
    this.users.set(u.id, u);
  }

  /** A response_url that posts back here. */
  responseUrl(id = randomBytes(4).toString('hex')): string {
    return this.url.replace(/api\/$/, '') + `response/${id}`;
  }

  callsTo(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  reset(): void {
    this.calls.length = 0;
    this.failures.clear();
    this.outages.clear();
  }

  /** Resolves when a call matching `pred` has been recorded (or rejects after `timeoutMs`). */
  async waitFor(method: string, pred: (c: RecordedCall) => boolean = () => true, timeoutMs = 10_000): Promise<RecordedCall> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.calls.find((c) => c.method === method && pred(c));
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${method} call matched within ${timeoutMs} ms; calls so far: ${this.calls.map((c) => c.method).join(', ')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  private nextTs(): string {
    this.tsCounter++;
    return `1700000000.${String(this.tsCounter).padStart(6, '0')}`;
  }

  private userJson(u: WorkspaceUser): Record<string, unknown> {
    return {
      id: u.id,
      name: u.name ?? u.id.toLowerCase(),
      real_name: u.realName ?? u.name ?? u.id,
      is_bot: u.isBot ?? false,
      deleted: false,
      ...(u.tz ? { tz: u.tz } : {}),
      profile: { email: u.email, real_name: u.realName ?? u.name ?? u.id, display_name: u.name ?? '' },
    };
  }

  /** Web API methods need the token when one is required; response_url posts carry their secret in the URL, as Slack's do. */
  private authError(method: string, token: string | undefined): Record<string, unknown> | undefined {
    if (this.requiredToken === undefined || method === 'response_url') return undefined;
    if (!token) return { ok: false, error: 'not_authed' };
    return token === this.requiredToken ? undefined : { ok: false, error: 'invalid_auth' };
  }

  private answer(method: string, args: Record<string, unknown>): Record<string, unknown> {
    const forced = this.failures.get(method);
    if (forced) return { ok: false, error: forced };
    const needed = METHOD_SCOPES[method];
    if (this.scopes && needed && !this.scopes.includes(needed)) return { ok: false, error: 'missing_scope', needed, provided: this.scopes.join(',') };
    switch (method) {
      case 'auth.test':
        return { ok: true, url: 'https://opsgate-test.slack.com/', team: 'opsgate test', user: 'opsgate', team_id: 'T0TEST', user_id: 'UBOT', bot_id: 'BBOT' };
      case 'chat.postMessage': {
        const ts = this.nextTs();
        return { ok: true, channel: args.channel, ts, message: { text: args.text, blocks: args.blocks, ts, bot_id: 'BBOT' } };
      }
      case 'chat.update':
        return { ok: true, channel: args.channel, ts: args.ts, text: args.text };
      case 'chat.postEphemeral':
        return { ok: true, message_ts: this.nextTs() };
      case 'views.open':
      case 'views.push':
      case 'views.update':
      case 'views.publish': {
        const view = (args.view ?? {}) as Record<string, unknown>;
        const id = typeof args.view_id === 'string' ? args.view_id : `V${String(++this.viewCounter).padStart(8, '0')}`;
        // As Slack does for the views it opened: an update naming an older hash is refused and changes nothing.
        const current = this.views.get(id);
        if (method === 'views.update' && current && typeof args.hash === 'string' && args.hash !== current.hash) return { ok: false, error: 'hash_conflict' };
        const hash = `h${++this.hashCounter}`;
        if (method !== 'views.update' || current) this.views.set(id, { view, hash });
        return { ok: true, view: { ...view, id, hash } };
      }
      case 'conversations.open': {
        const users = String(args.users ?? '');
        return { ok: true, channel: { id: `D${users.replace(/,/g, '')}` } };
      }
      case 'users.info': {
        const u = this.users.get(String(args.user));
        return u ? { ok: true, user: this.userJson(u) } : { ok: false, error: 'user_not_found' };
      }
      case 'users.lookupByEmail': {
        const email = String(args.email ?? '').toLowerCase();
        const u = [...this.users.values()].find((x) => x.email?.toLowerCase() === email);
        return u ? { ok: true, user: this.userJson(u) } : { ok: false, error: 'users_not_found' };
      }
      case 'files.getUploadURLExternal': {
        const length = Number(args.length);
        if (typeof args.filename !== 'string' || !args.filename || !Number.isInteger(length) || length < 1) return { ok: false, error: 'invalid_arguments' };
        const fileId = `F${String(++this.uploadCounter).padStart(8, '0')}`;
        this.uploads.set(fileId, { fileId, filename: args.filename, length });
        return { ok: true, file_id: fileId, upload_url: this.url.replace(/api\/$/, '') + `upload/${fileId}` };
      }
      case 'files.completeUploadExternal': {
        const files = (Array.isArray(args.files) ? args.files : []) as Array<{ id?: string; title?: string }>;
        const found = files.map((f) => this.uploads.get(String(f.id)));
        // Slack shares only a file whose bytes arrived, as many as were announced.
        if (files.length === 0 || found.some((u) => !u?.path || u.bytes !== u.length)) return { ok: false, error: 'file_not_found' };
        for (const [i, u] of found.entries()) u!.completed = { channel: String(args.channel_id ?? ''), title: files[i]!.title, comment: typeof args.initial_comment === 'string' ? args.initial_comment : undefined };
        return { ok: true, files: found.map((u) => ({ id: u!.fileId, name: u!.filename, title: u!.completed?.title })) };
      }
      case 'response_url':
        return { ok: true };
      case 'apps.connections.open':
        return { ok: true, url: this.url.replace(/^http/, 'ws').replace(/api\/$/, 'socket') };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }
}
