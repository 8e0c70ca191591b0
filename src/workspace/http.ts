/**
 * The local workspace's HTTP side: the page itself (`GET /`, `/assets/app.js | style.css`) and
 * what it uses: `GET /api/people | state`, `POST /api/command | action | submit | suggest |
 * close | home`, `GET /api/events` (server-sent events), `GET /api/files/<id>`, and `/healthz`
 * as the bot serves it.
 *
 * Anyone who reaches it can act as anyone: it listens on loopback unless WORKSPACE_HOST says
 * otherwise. A web page elsewhere in the same browser must not act through it either: every
 * POST must be `application/json` (a cross-site page cannot send that without a CORS preflight,
 * which is never granted), and on loopback the Host header must name loopback (DNS rebinding).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { AppError, ErrorCode, badParameter } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Change, Message, OpenView } from './messages.js';
import { buildPageAssets, CONTENT_SECURITY_POLICY } from './page-assets.js';
import type { Person, Workspace } from './workspace.js';

const MAX_BODY_BYTES = 1024 * 1024;

const asField = z.string({ error: 'as: must be the id of a person in the directory' }).min(1);
const valuesSchema = z.record(z.string(), z.record(z.string(), z.record(z.string(), z.unknown())));
/** What a select or picker chose: passed on as Slack passes it. */
const pickedSchema = z
  .object({
    selected_option: z.record(z.string(), z.unknown()).optional(),
    selected_options: z.array(z.record(z.string(), z.unknown())).optional(),
    selected_date: z.string().optional(),
    selected_time: z.string().optional(),
    selected_user: z.string().optional(),
    /** What was typed in a text input that dispatches (a button's value is the message's own). */
    value: z.string().max(4000).optional(),
  })
  .strict();

const commandSchema = z.object({ as: asField, channel: z.string().min(1), text: z.string().min(1).max(4000) }).strict();
const actionSchema = z
  .object({
    as: asField,
    channel: z.string().optional(),
    ts: z.string().optional(),
    view_id: z.string().optional(),
    action_id: z.string().min(1),
    block_id: z.string().optional(),
    values: valuesSchema.optional(),
  })
  .extend(pickedSchema.shape)
  .strict()
  .refine((b) => (b.channel !== undefined && b.ts !== undefined) !== (b.view_id !== undefined), { message: 'name either channel and ts (a message) or view_id (a modal or App Home)' });
const submitSchema = z.object({ as: asField, view_id: z.string().min(1), values: valuesSchema }).strict();
const homeSchema = z.object({ as: asField }).strict();
const suggestSchema = z.object({ as: asField, view_id: z.string().min(1), action_id: z.string().min(1), block_id: z.string().optional(), value: z.string().max(200) }).strict();
const closeSchema = z.object({ as: asField, view_id: z.string().min(1) }).strict();

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly appError: AppError,
  ) {
    super(appError.message);
  }
}

/** zod's first issue as the seed's codes: 1101 not an object, 1102 a missing field, else 1100. */
function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, new AppError(ErrorCode.ExpectedObject, 'the request body must be a JSON object'));
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.join('.') || '(body)';
  const missing = issue.code === 'invalid_type' && (body as Record<string, unknown>)[String(issue.path[0])] === undefined;
  throw new HttpError(400, missing ? new AppError(ErrorCode.MissingField, `${field} is required`, { field }) : badParameter(`${field}: ${issue.message}`));
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, badParameter(`the request body is over ${MAX_BODY_BYTES} bytes`)));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new HttpError(400, badParameter('the request body is not JSON')));
      }
    });
    req.on('error', reject);
  });
}

/** Finds an interactive element by action id in blocks (actions' elements, accessories, inputs). */
function findElement(blocks: unknown, actionId: string, blockId?: string): { element: Record<string, unknown>; blockId: string } | undefined {
  for (const b of Array.isArray(blocks) ? (blocks as Array<Record<string, unknown>>) : []) {
    if (blockId !== undefined && b.block_id !== undefined && b.block_id !== blockId) continue;
    const candidates = [...(Array.isArray(b.elements) ? (b.elements as Array<Record<string, unknown>>) : []), b.accessory, b.element].filter((e): e is Record<string, unknown> => !!e && typeof e === 'object');
    const element = candidates.find((e) => e.action_id === actionId);
    if (element) return { element, blockId: typeof b.block_id === 'string' ? b.block_id : (blockId ?? '') };
  }
  return undefined;
}

const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/i;

export interface WorkspaceServer {
  port: number;
  address: string;
  close(): Promise<void>;
}

export async function startWorkspaceServer(ws: Workspace, opts: { port: number; host: string; logger: Logger; health: () => Promise<{ ok: boolean }>; api?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean }): Promise<WorkspaceServer> {
  const loopbackOnly = LOOPBACK_HOST.test(opts.host) || opts.host === '::1';
  const assets = await buildPageAssets();
  const streams = new Set<http.ServerResponse>();

  const personOf = (id: string): Person => {
    const p = ws.person(id);
    if (!p) throw new HttpError(400, badParameter(`as: nobody with id ${JSON.stringify(id)} is in the directory`));
    return p;
  };
  const views = (p: Person) => ({ modals: ws.store.viewsOf(p.slackId), home: ws.store.homeOf(p.slackId) ?? null });

  const state = (p: Person) => ({
    as: p.id,
    people: ws.people.map((x) => ({ id: x.id, name: x.name, slackId: x.slackId })),
    commands: ws.commands,
    channels: [...ws.store.channels.values()].filter((c) => ws.store.canSee(p.slackId, c)),
    messages: ws.store.messagesFor(p.slackId),
    views: views(p),
  });

  const viewOf = (p: Person, viewId: string): OpenView => {
    const v = ws.store.viewsOf(p.slackId).find((x) => x.id === viewId) ?? (ws.store.homeOf(p.slackId)?.id === viewId ? ws.store.homeOf(p.slackId) : undefined);
    if (!v) throw new HttpError(404, badParameter(`view_id: ${p.id} has no open view ${JSON.stringify(viewId)}`));
    return v;
  };

  /** Submit and Close act on the modal on top of the person's stack only, as in Slack. */
  const topModal = (p: Person, viewId: string): OpenView => {
    const top = ws.store.viewsOf(p.slackId).at(-1);
    if (!top || top.id !== viewId) throw new HttpError(404, badParameter(`view_id: ${JSON.stringify(viewId)} is not ${p.id}'s open modal`));
    return top;
  };

  const routes: Record<string, (body: unknown) => Promise<unknown>> = {
    '/api/command': async (body) => {
      const b = parse(commandSchema, body);
      const p = personOf(b.as);
      const ch = ws.store.channels.get(ws.store.channelKey(b.channel));
      if (!ws.store.canSee(p.slackId, ch)) throw new HttpError(400, badParameter(`channel: ${p.id} is not in ${JSON.stringify(b.channel)}`));
      const [command, ...rest] = b.text.trim().split(/\s+/);
      if (!ws.commands.some((c) => c.command === command)) throw new HttpError(400, badParameter(`${command} is not a command of this app (${ws.commands.map((c) => c.command).join(', ')})`));
      const res = await ws.command(p, ch!.id, command!, b.text.trim().slice(command!.length).trim());
      return { delivered: res.status === 200, status: res.status };
    },
    '/api/action': async (body) => {
      const b = parse(actionSchema, body);
      const p = personOf(b.as);
      const { as: _as, channel, ts, view_id, action_id, block_id, values, ...picked } = b;
      if (view_id !== undefined) {
        const v = viewOf(p, view_id);
        const hit = findElement((v.view as { blocks?: unknown }).blocks, action_id, block_id);
        if (!hit) throw new HttpError(400, badParameter(`action_id: no ${JSON.stringify(action_id)} in that view`));
        const res = await ws.viewAction(p, v, hit.element, hit.blockId, picked, values ?? {});
        return { delivered: res.status === 200, status: res.status };
      }
      const m: Message | undefined = ws.store.find(channel!, ts!);
      if (!m || !ws.store.canSeeMessage(p.slackId, m)) throw new HttpError(404, badParameter(`ts: ${p.id} sees no message ${JSON.stringify(ts)} in ${JSON.stringify(channel)}`));
      const hit = findElement(m.blocks, action_id, block_id);
      if (!hit) throw new HttpError(400, badParameter(`action_id: no ${JSON.stringify(action_id)} in that message`));
      const res = await ws.messageAction(p, m, hit.element, hit.blockId, picked);
      return { delivered: res.status === 200, status: res.status };
    },
    '/api/submit': async (body) => {
      const b = parse(submitSchema, body);
      const p = personOf(b.as);
      const top = topModal(p, b.view_id);
      const r = await ws.submit(p, top, b.values);
      return { delivered: r.status === 200, status: r.status, errors: r.errors ?? null };
    },
    '/api/suggest': async (body) => {
      const b = parse(suggestSchema, body);
      const p = personOf(b.as);
      const v = viewOf(p, b.view_id);
      const hit = findElement((v.view as { blocks?: unknown }).blocks, b.action_id, b.block_id);
      if (!hit || !/external_select$/.test(String(hit.element.type))) throw new HttpError(400, badParameter(`action_id: no external select ${JSON.stringify(b.action_id)} in that view`));
      const r = await ws.suggest(p, v, hit.element, hit.blockId, b.value);
      return { delivered: r.status === 200, status: r.status, options: r.options };
    },
    '/api/close': async (body) => {
      const b = parse(closeSchema, body);
      const p = personOf(b.as);
      const top = topModal(p, b.view_id);
      const r = await ws.close(p, top);
      return { delivered: r.status === 200, status: r.status };
    },
    '/api/home': async (body) => {
      const p = personOf(parse(homeSchema, body).as);
      const res = await ws.homeOpened(p);
      return { delivered: res.status === 200, status: res.status };
    },
  };

  const sendJson = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  /** Server-sent events: each change the person may see, as one `data:` line of JSON. */
  const events = (p: Person, res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(': connected\n\n');
    streams.add(res);
    const visible = (c: Change): boolean => ('message' in c ? ws.store.canSeeMessage(p.slackId, c.message) : c.user === p.slackId);
    const off = ws.store.subscribe((c) => {
      if (visible(c)) res.write(`event: ${c.kind}\ndata: ${JSON.stringify(c)}\n\n`);
    });
    res.on('close', () => {
      off();
      streams.delete(res);
    });
  };

  const file = (p: Person, id: string, res: http.ServerResponse) => {
    const shared = ws.store.fileShared(id);
    const u = ws.api.uploads.get(id);
    if (!shared || !ws.store.canSeeMessage(p.slackId, shared) || !u?.path) return sendJson(res, 404, { ok: false, code: ErrorCode.BadParameter, error: `no file ${id} for ${p.id}` });
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename="${u.filename.replace(/[^\w.-]/g, '_')}"`, 'content-length': String(u.bytes) });
    fs.createReadStream(u.path).pipe(res);
  };

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://workspace');
      try {
        if (loopbackOnly && !LOOPBACK_HOST.test(String(req.headers.host ?? ''))) throw new HttpError(403, badParameter('Host: the local workspace answers only to loopback names'));
        // The bot's HTTP API (/api/v1/, bearer tokens) is served here too: this is the port people reach.
        if (opts.api?.(req, res)) return;
        if (req.method === 'GET' && url.pathname === '/healthz') {
          const h = await opts.health().catch(() => ({ ok: false }));
          return sendJson(res, h.ok ? 200 : 503, h);
        }
        const asset = req.method === 'GET' ? assets.get(url.pathname) : undefined;
        if (asset) {
          res.writeHead(200, { 'content-type': asset.type, 'content-security-policy': CONTENT_SECURITY_POLICY, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-store' });
          return void res.end(asset.body);
        }
        if (req.method === 'GET' && url.pathname === '/api/people') return sendJson(res, 200, { people: ws.people.map((x) => ({ id: x.id, name: x.name })) });
        if (req.method === 'GET' && url.pathname === '/api/state') return sendJson(res, 200, state(personOf(url.searchParams.get('as') ?? '')));
        if (req.method === 'GET' && url.pathname === '/api/events') return events(personOf(url.searchParams.get('as') ?? ''), res);
        if (req.method === 'GET' && url.pathname.startsWith('/api/files/')) return file(personOf(url.searchParams.get('as') ?? ''), decodeURIComponent(url.pathname.slice('/api/files/'.length)), res);
        const route = routes[url.pathname];
        if (req.method === 'POST' && route) {
          if (!/^application\/json\b/i.test(String(req.headers['content-type'] ?? ''))) throw new HttpError(415, badParameter('content-type: must be application/json'));
          return sendJson(res, 200, { ok: true, ...((await route(await readBody(req))) as object) });
        }
        sendJson(res, 404, { ok: false, code: ErrorCode.BadParameter, error: `no ${req.method} ${url.pathname}` });
      } catch (err) {
        if (err instanceof HttpError) return sendJson(res, err.status, { ok: false, code: err.appError.code, error: err.appError.toUserText() });
        opts.logger.error({ err }, 'local workspace request failed');
        sendJson(res, 500, { ok: false, code: ErrorCode.Internal, error: '[1300] Internal error: the workspace could not do that; the error was logged' });
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    port: addr.port,
    address: addr.address,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of streams) s.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
