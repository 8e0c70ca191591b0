/**
 * One pino logger for Bolt, Agenda, the store and our own code.
 *
 * Two rules hold for every line, whoever logs it:
 * - **Bounded.** Logged values often carry what a person typed (a command's text, a search word
 *   inside a regex error). Every string is cut at LOG_STRING_LIMIT characters with "…", arrays
 *   after LOG_ARRAY_LIMIT items, objects after LOG_KEY_LIMIT keys and LOG_DEPTH_LIMIT levels, so
 *   a 1 MB input costs the log a few hundred bytes, not a megabyte per line.
 * - **Traceable.** While a Slack request (HTTP request or Socket Mode envelope) is handled, its
 *   request id is in an AsyncLocalStorage and every line carries it as `reqId`, also lines from
 *   listeners and from Bolt itself. A line with an `err` also carries `code`: the error's seed
 *   001 code for an AppError, else 1300 (internal).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { pino, stdSerializers, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';

export type { Logger };

export const LOG_STRING_LIMIT = 500;
/** Stack traces are ours, not input: a longer limit keeps them useful. */
const LOG_STACK_LIMIT = 2000;
export const LOG_ARRAY_LIMIT = 20;
const LOG_KEY_LIMIT = 50;
const LOG_DEPTH_LIMIT = 6;
/** Values visited per line at most, so a wide and deep object cannot make logging slow. */
const LOG_NODE_BUDGET = 1000;

interface RequestScope {
  requestId: string;
}

const requestScope = new AsyncLocalStorage<RequestScope>();

/** A fresh request id: 16 hex characters, enough to find one request in a day of logs. */
export function newRequestId(): string {
  return randomBytes(8).toString('hex');
}

/** Runs `fn` (and everything it starts) as part of request `requestId`: log lines carry it. */
export function runInRequest<T>(requestId: string, fn: () => T): T {
  return requestScope.run({ requestId }, fn);
}

/** The id of the Slack request being handled here, if any. */
export function currentRequestId(): string | undefined {
  return requestScope.getStore()?.requestId;
}

export function cutString(s: string, limit = LOG_STRING_LIMIT): string {
  return s.length <= limit ? s : `${s.slice(0, limit)}… (${s.length} chars)`;
}

/** A copy of `value` within the limits above; Errors become pino's serialized form (with `code`). */
export function boundForLog(value: unknown): unknown {
  let budget = LOG_NODE_BUDGET;
  const walk = (v: unknown, depth: number, key?: string): unknown => {
    if (--budget < 0) return '…';
    if (typeof v === 'string') return cutString(v, key === 'stack' ? LOG_STACK_LIMIT : LOG_STRING_LIMIT);
    if (v === null || typeof v !== 'object') return typeof v === 'bigint' ? v.toString() : v;
    if (v instanceof Error) return walk(serializeError(v), depth, key);
    if (v instanceof Date) return v;
    if (Buffer.isBuffer(v) || ArrayBuffer.isView(v)) return `[${v.constructor.name} ${v.byteLength} bytes]`;
    if (depth >= LOG_DEPTH_LIMIT) return '[…]';
    // ObjectIds, mongoose documents and the like say themselves how they want to be shown.
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      const shown: unknown = toJSON.call(v);
      if (shown !== v) return walk(shown, depth, key);
    }
    if (Array.isArray(v)) {
      const out: unknown[] = v.slice(0, LOG_ARRAY_LIMIT).map((item) => walk(item, depth + 1));
      if (v.length > LOG_ARRAY_LIMIT) out.push(`… (${v.length - LOG_ARRAY_LIMIT} more)`);
      return out;
    }
    const out: Record<string, unknown> = {};
    const keys = Object.keys(v);
    for (const k of keys.slice(0, LOG_KEY_LIMIT)) out[k] = walk((v as Record<string, unknown>)[k], depth + 1, k);
    if (keys.length > LOG_KEY_LIMIT) out['…'] = `${keys.length - LOG_KEY_LIMIT} more keys`;
    return out;
  };
  return walk(value, 0);
}

/** pino's error form, with the message inside the stack's first line cut like any other string. */
function serializeError(e: Error): Record<string, unknown> {
  const out = stdSerializers.err(e) as unknown as Record<string, unknown>;
  const head = `${e.name}: ${e.message}`;
  if (typeof out.stack === 'string' && e.message.length > LOG_STRING_LIMIT && out.stack.startsWith(head)) out.stack = `${e.name}: ${cutString(e.message)}${out.stack.slice(head.length)}`;
  return out;
}

/** Errors already written to the log, so the handlers further out do not write them again. */
const loggedErrors = new WeakSet<object>();

/** True when `err` (or the error Bolt wrapped it in) was already logged through a logger made here. */
export function alreadyLogged(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const original = (err as { original?: unknown }).original;
  return loggedErrors.has(err) || (typeof original === 'object' && original !== null && loggedErrors.has(original));
}

/** The seed 001 code a logged error stands for: its own when it is one of ours, else 1300. */
function codeOf(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && code >= 1000 && code < 2000 ? code : 1300;
}

export type LogFormat = 'json' | 'pretty';

/** LOG_FORMAT when set; else pretty on a terminal (a person reads it), JSON lines otherwise (a machine does). */
export function chooseLogFormat(setting: LogFormat | undefined, isTTY: boolean | undefined): LogFormat {
  return setting ?? (isTTY ? 'pretty' : 'json');
}

/**
 * pino-pretty as a function in this thread, not as a transport: each line is written to the
 * destination synchronously, as the JSON lines are, so a fatal line is out before exit(1).
 */
function prettyDestination(destination: NodeJS.WritableStream): { write(line: string): void } {
  const pretty = prettyFactory({
    colorize: (destination as { isTTY?: boolean }).isTTY === true,
    translateTime: 'SYS:HH:MM:ss',
    // `startup` is the summary's data: its text is already the message.
    ignore: 'pid,hostname,app,startup',
    // A record's fields on the same line as its message: start-up notices stay one line each (errors keep their stack).
    singleLine: true,
  });
  return { write: (line: string) => void destination.write(pretty(line)) };
}

/** True while logWhole writes: the text is opsgate's own, not input, and is not cut. */
let wholeText = false;

/**
 * Logs text opsgate composed itself (the start-up summary: several lines, a public key that
 * may be longer than LOG_STRING_LIMIT) without the cuts that bound input. Never pass input here.
 */
export function logWhole(logger: Logger, obj: Record<string, unknown>, text: string): void {
  wholeText = true;
  try {
    logger.info(obj, text);
  } finally {
    wholeText = false;
  }
}

/** JSON lines by default (tests and benches pass their own destination); `pretty` for people. */
export function createLogger(level: string, destination: NodeJS.WritableStream = process.stdout, format: LogFormat = 'json'): Logger {
  return pino(
    {
      level,
      base: { app: 'opsgate' },
      mixin: () => {
        const id = currentRequestId();
        return id === undefined ? {} : { reqId: id };
      },
      formatters: {
        log: (obj) => {
          if (wholeText) return obj;
          if (typeof obj.err === 'object' && obj.err !== null) loggedErrors.add(obj.err);
          const out = boundForLog(obj) as Record<string, unknown>;
          if (obj.err !== undefined && out.code === undefined) out.code = codeOf(obj.err);
          return out;
        },
      },
      // boundForLog already serialized errors; pino's own err serializer would do it again.
      serializers: { err: (e: unknown) => e },
      hooks: {
        // The message string is not part of the object formatters.log sees: cut it here, and give
        // `logger.error(err)` / `logger.error({ err })` the cut message pino would take whole.
        logMethod(args, method) {
          if (wholeText) return method.apply(this, args);
          const [first, ...rest] = args as unknown[];
          const errLike = first instanceof Error ? first : (first as { err?: unknown } | null)?.err;
          if (typeof first === 'string') return method.apply(this, [cutString(first), ...rest.map((a) => (typeof a === 'string' ? cutString(a) : a))] as Parameters<typeof method>);
          if (rest.length === 0 && errLike instanceof Error) rest.push(errLike.message);
          const obj = first instanceof Error ? { err: first } : first;
          return method.apply(this, [obj, ...rest.map((a) => (typeof a === 'string' ? cutString(a) : a))] as Parameters<typeof method>);
        },
      },
      // Credentials never reach the log, whatever object a caller passes.
      redact: { paths: ['*.password', '*.token', '*.secret', '*.signingSecret', 'config.SLACK_BOT_TOKEN', 'config.SLACK_APP_TOKEN', 'config.SLACK_SIGNING_SECRET'], censor: '***' },
    },
    (format === 'pretty' ? prettyDestination(destination) : destination) as pino.DestinationStream,
  );
}
