/**
 * The only reader of process.env. Every variable is validated once at start-up; a bad value
 * stops the bot with one line naming the variable and what is wrong with it.
 */
import path from 'node:path';
import { z } from 'zod';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const LOG_FORMATS = ['json', 'pretty'] as const;

/** Empty strings count as unset, so `FOO=` in a .env file means "use the default". */
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

function urlWithScheme(schemes: string[]) {
  return optionalString.refine(
    (v) => {
      if (v === undefined) return true;
      try {
        return schemes.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${schemes.map((s) => s + '//').join(' or ')}` },
  );
}

function prefixed(prefix: string) {
  return optionalString.refine((v) => v === undefined || v.startsWith(prefix), { message: `must start with "${prefix}"` });
}

function positiveInt(fallback: number, min: number, max: number) {
  return optionalString
    .transform((v) => (v === undefined ? fallback : Number(v)))
    .refine((n) => Number.isInteger(n) && n >= min && n <= max, { message: `must be a whole number from ${min} to ${max}` });
}

const schema = z.object({
  PORT: optionalString
    .transform((v) => (v === undefined ? 3000 : Number(v)))
    .refine((n) => Number.isInteger(n) && n >= 0 && n <= 65535, { message: 'must be a whole number from 0 to 65535' }),
  DATA_DIR: optionalString.transform((v) => path.resolve(v ?? './data')),
  MONGODB_URI: urlWithScheme(['mongodb:', 'mongodb+srv:']),
  // Limits of the embedded store (unused with MONGODB_URI).
  STORE_MAX_CONNECTIONS: positiveInt(1000, 1, 100_000),
  STORE_MAX_BUFFERED_BYTES: positiveInt(256 * 1024 * 1024, 1024 * 1024, 64 * 1024 * 1024 * 1024),
  STORE_MAX_UNAUTHENTICATED_CONNECTIONS: positiveInt(64, 1, 100_000),
  STORE_AUTH_TIMEOUT_MS: positiveInt(30_000, 100, 3_600_000),
  STORE_MAX_UNAUTHENTICATED_MESSAGE_BYTES: positiveInt(64 * 1024, 4096, 48_000_000),
  SLACK_SIGNING_SECRET: optionalString,
  SLACK_BOT_TOKEN: prefixed('xoxb-'),
  SLACK_APP_TOKEN: prefixed('xapp-'),
  SLACK_API_URL: urlWithScheme(['http:', 'https:']).transform((v) => (v === undefined || v.endsWith('/') ? v : v + '/')),
  // The local workspace (no Slack configured) listens here; loopback unless set (anyone reaching it can act as anyone).
  WORKSPACE_HOST: optionalString,
  SMTP_URL: urlWithScheme(['smtp:', 'smtps:']),
  MAIL_FROM: optionalString.refine((v) => v === undefined || /^[^\s@<>]+@[^\s@<>]+$|^.+<[^\s@<>]+@[^\s@<>]+>$/.test(v), {
    message: 'must be an address such as opsgate@example.com or "opsgate <opsgate@example.com>"',
  }),
  CATALOG_DIR: optionalString.transform((v) => path.resolve(v ?? './catalog')),
  DIRECTORY_SOURCE: optionalString
    .transform((v) => v ?? './catalog/directory.yaml')
    .refine((v) => /^https?:\/\//i.test(v) || /\.(ya?ml|json)$/.test(v), { message: 'must be a .yaml/.yml/.json file or an http(s) URL' })
    .transform((v) => (/^https?:\/\//i.test(v) ? v : path.resolve(v))),
  // GET /metrics answers only with `Authorization: Bearer <METRICS_TOKEN>` when set.
  METRICS_TOKEN: optionalString.refine((v) => v === undefined || /^[\x21-\x7e]{16,256}$/.test(v), { message: 'must be 16 to 256 visible ASCII characters' }),
  ADMIN_CHANNEL: optionalString.refine((v) => v === undefined || /^[CGD][A-Z0-9]{2,}$/.test(v), { message: 'must be a Slack channel id such as C012ABCDEF' }),
  MAIL_MAX_ATTEMPTS: positiveInt(8, 1, 100),
  MAIL_BACKOFF_BASE_MS: positiveInt(60_000, 100, 86_400_000),
  MAIL_BACKOFF_MAX_MS: positiveInt(6 * 3_600_000, 1000, 7 * 86_400_000),
  // The Slack notification outbox (src/services/notifications/outbox.ts): how often its drain
  // runs on its own (also how soon a message backing off is tried again), the backoff, and how
  // long a message may wait for Slack before it is given up.
  NOTIFY_DRAIN_INTERVAL_MS: positiveInt(10_000, 200, 3_600_000),
  NOTIFY_BACKOFF_BASE_MS: positiveInt(2_000, 100, 3_600_000),
  NOTIFY_BACKOFF_MAX_MS: positiveInt(60_000, 1000, 86_400_000),
  NOTIFY_MAX_AGE_MS: positiveInt(24 * 3_600_000, 60_000, 30 * 86_400_000),
  // How long a bot that died mid-send holds its mail: the claim outlives the send's cutoff by 30 s (src/services/mail.ts).
  MAIL_SEND_TIMEOUT_MS: positiveInt(2 * 60_000, 1000, 3_600_000),
  MAIL_CLAIM_LEASE_MS: positiveInt(10 * 60_000, 31_000, 86_400_000),
  MAIL_DRAIN_EVERY_MS: positiveInt(60_000, 500, 3_600_000),
  SSH_PRIVATE_KEY_PATH: optionalString,
  SSH_PRIVATE_KEY_PASSPHRASE: optionalString,
  SSH_USER: optionalString.transform((v) => v ?? 'root').refine((v) => /^[a-z_][a-z0-9_-]{0,31}$/.test(v), { message: 'must be a login name' }),
  EXEC_PARALLELISM: positiveInt(50, 1, 1000),
  EXEC_CONNECT_TIMEOUT_MS: positiveInt(10_000, 100, 600_000),
  EXEC_COMMAND_TIMEOUT_MS: positiveInt(600_000, 1000, 86_400_000),
  // The warm SSH pool (src/adapters/exec/ssh-pool.ts); an idle timeout of 0 turns it off.
  SSH_POOL_IDLE_TIMEOUT_MS: positiveInt(60_000, 0, 86_400_000),
  SSH_POOL_MAX_CONNECTIONS: positiveInt(256, 1, 100_000),
  SSH_POOL_KEEPALIVE_INTERVAL_MS: positiveInt(15_000, 1000, 3_600_000),
  SSH_POOL_CHANNELS_PER_CONNECTION: positiveInt(10, 1, 1000),
  // The HTTP API (src/api/): requests per token per minute, request body cap, progress streams' read interval.
  API_RATE_LIMIT_PER_MINUTE: positiveInt(120, 1, 1_000_000),
  API_MAX_BODY_BYTES: positiveInt(65_536, 1024, 16 * 1024 * 1024),
  API_PROGRESS_POLL_MS: positiveInt(1000, 50, 60_000),
  // A running ticket's channel message is updated at most this often (Slack rate-limits chat.update).
  TICKET_PROGRESS_EVERY_MS: positiveInt(3_000, 100, 600_000),
  // Root-owned key files the role accounts cannot replace (issue 13); never in their homes.
  AUTHORIZED_KEYS_FILE: optionalString
    .transform((v) => v ?? '/etc/opsgate/authorized_keys/%u')
    .refine((v) => v.startsWith('/') && !v.includes('%h'), { message: "must be an absolute path outside the accounts' homes (no %h), such as /etc/opsgate/authorized_keys/%u" }),
  // Module runs as jobs (src/services/modules/runs.ts): the lease a running job renews, and output kept per host.
  JOB_HEARTBEAT_MS: positiveInt(10_000, 100, 600_000),
  JOB_LEASE_MS: positiveInt(30_000, 1000, 3_600_000),
  MODULE_OUTPUT_MAX_BYTES: positiveInt(1024 * 1024, 1024, 64 * 1024 * 1024),
  ACCESS_DAY_MS: positiveInt(86_400_000, 1000, 86_400_000),
  ACCESS_SWEEP_MS: positiveInt(60_000, 500, 3_600_000),
  // How long a provisioning task claimed by a bot that died stays claimed before another bot runs it.
  ACCESS_CLAIM_LEASE_MS: positiveInt(5 * 60_000, 1000, 3_600_000),
  ACCESS_PROVISIONING_BATCH_SIZE: positiveInt(1000, 1, 100_000),
  ACCESS_PROVISIONING_HOST_PARALLELISM: positiveInt(10, 1, 1000),
  // `npm run demo` only (src/demo/): the sshd binary its demo hosts run.
  DEMO_SSHD: optionalString.transform((v) => v ?? '/usr/sbin/sshd'),
  LOG_LEVEL: optionalString.transform((v) => v ?? 'info').pipe(z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` })),
  // Unset: pretty on a terminal, JSON lines otherwise (src/logger.ts chooseLogFormat).
  LOG_FORMAT: optionalString.pipe(z.enum(LOG_FORMATS, { message: `must be ${LOG_FORMATS.join(' or ')}` }).optional()),
});

export type Config = z.infer<typeof schema> & {
  /** OPSGATE_* variables: where tickets.yaml's `{ env: OPSGATE_... }` secrets are read; never logged. */
  secretEnv: Readonly<Record<string, string>>;
};

export class ConfigError extends Error {}

/** Parses the environment; throws ConfigError with one line per bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) picked[key] = env[key];
  const result = schema.safeParse(picked);
  if (result.success) {
    const related = relatedProblems(result.data);
    if (related.length > 0) throw new ConfigError(related.join('\n'));
    const secretEnv = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => /^OPSGATE_[A-Z0-9_]+$/.test(e[0]) && typeof e[1] === 'string' && e[1] !== ''));
    return { ...result.data, secretEnv };
  }
  const lines = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? '?');
    const got = picked[name];
    return `${name}: ${issue.message}${got === undefined ? '' : ` (got ${JSON.stringify(redactValue(name, got))})`}`;
  });
  throw new ConfigError(lines.join('\n'));
}

/** Settings that are each fine alone but not together, named as the person set them. */
function relatedProblems(c: z.infer<typeof schema>): string[] {
  const out: string[] = [];
  // A claim must outlive its send's cutoff, or a slow send could meet a second sender (src/services/mail.ts).
  if (c.MAIL_CLAIM_LEASE_MS < c.MAIL_SEND_TIMEOUT_MS + 30_000) out.push(`MAIL_CLAIM_LEASE_MS: must be at least MAIL_SEND_TIMEOUT_MS + 30000 (got ${c.MAIL_CLAIM_LEASE_MS} with MAIL_SEND_TIMEOUT_MS ${c.MAIL_SEND_TIMEOUT_MS})`);
  if (c.MAIL_BACKOFF_MAX_MS < c.MAIL_BACKOFF_BASE_MS) out.push(`MAIL_BACKOFF_MAX_MS: must be at least MAIL_BACKOFF_BASE_MS (got ${c.MAIL_BACKOFF_MAX_MS} with ${c.MAIL_BACKOFF_BASE_MS})`);
  if (c.NOTIFY_BACKOFF_MAX_MS < c.NOTIFY_BACKOFF_BASE_MS) out.push(`NOTIFY_BACKOFF_MAX_MS: must be at least NOTIFY_BACKOFF_BASE_MS (got ${c.NOTIFY_BACKOFF_MAX_MS} with ${c.NOTIFY_BACKOFF_BASE_MS})`);
  return out;
}

/** Secrets are never echoed back, not even in a configuration error. */
function redactValue(name: string, value: string): string {
  if (/SECRET|TOKEN/.test(name)) return value.slice(0, 5) + '…';
  if (name === 'MONGODB_URI' || name === 'SMTP_URL') return value.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
  return value;
}
