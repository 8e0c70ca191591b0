/**
 * `npm run db -- --port N --dbpath DIR [--host H] [--ttl-secs S] [--user U --password-file F]
 * [--tls-cert C --tls-key K] [--max-connections N] [--max-buffered-bytes B]
 * [--max-unauthenticated-connections N] [--auth-timeout-ms MS] [--max-unauthenticated-message-bytes B]`: the embedded store
 * alone, in the foreground. The first line on stdout is the mongodb:// URI it serves, with its
 * credentials (user `opsgate` and the password in DBPATH/store-password unless told otherwise);
 * logs go to stderr and never show the password. SIGINT or SIGTERM flushes the journal and exits.
 * `npm run db -- export|import …` moves a database instead (src/store/transfer/cli.ts).
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { runTransfer, TRANSFER_USAGE } from '../transfer/cli.js';
import { readOrCreatePassword } from './auth/password-file.js';
import { createLogger } from '../../logger.js';
import { EmbeddedMongoServer } from './server.js';

const usage =
  'usage: npm run db -- --port N --dbpath DIR [--host 127.0.0.1] [--ttl-secs 60] [--user opsgate --password-file FILE]\n' +
  '       [--tls-cert CERT.pem --tls-key KEY.pem] (required for a --host other than loopback) [--max-connections 1000] [--max-buffered-bytes 268435456]\n' +
  '       [--max-unauthenticated-connections 64] [--auth-timeout-ms 30000] [--max-unauthenticated-message-bytes 65536]\n' +
  TRANSFER_USAGE;

if (process.argv[2] === 'export' || process.argv[2] === 'import') process.exit(await runTransfer(process.argv.slice(2)));

function fail(msg: string): never {
  process.stderr.write(`${msg}\n${usage}\n`);
  process.exit(2);
}

let values: {
  port?: string;
  dbpath?: string;
  host?: string;
  'ttl-secs'?: string;
  user?: string;
  'password-file'?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
  'max-connections'?: string;
  'max-buffered-bytes'?: string;
  'max-unauthenticated-connections'?: string;
  'auth-timeout-ms'?: string;
  'max-unauthenticated-message-bytes'?: string;
  help?: boolean;
};
try {
  ({ values } = parseArgs({
    options: {
      port: { type: 'string', default: '27017' },
      dbpath: { type: 'string', default: './data/db' },
      host: { type: 'string', default: '127.0.0.1' },
      'ttl-secs': { type: 'string', default: '60' },
      user: { type: 'string' },
      'password-file': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'max-connections': { type: 'string' },
      'max-buffered-bytes': { type: 'string' },
      'max-unauthenticated-connections': { type: 'string' },
      'auth-timeout-ms': { type: 'string' },
      'max-unauthenticated-message-bytes': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  fail((err as Error).message);
}
if (values.help) {
  process.stdout.write(usage + '\n');
  process.exit(0);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port: must be a whole number from 0 to 65535 (got ${values.port})`);
const ttl = Number(values['ttl-secs']);
if (!Number.isFinite(ttl) || ttl < 1) fail(`--ttl-secs: must be a number >= 1 (got ${values['ttl-secs']})`);

function wholeNumber(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) fail(`--${flag}: must be a whole number >= ${min} (got ${v})`);
  return n;
}
const maxConnections = wholeNumber('max-connections', values['max-connections'], 1);
const maxBufferedBytes = wholeNumber('max-buffered-bytes', values['max-buffered-bytes'], 1024 * 1024);
const maxUnauthenticatedConnections = wholeNumber('max-unauthenticated-connections', values['max-unauthenticated-connections'], 1);
const authTimeoutMs = wholeNumber('auth-timeout-ms', values['auth-timeout-ms'], 100);
const maxUnauthenticatedMessageBytes = wholeNumber('max-unauthenticated-message-bytes', values['max-unauthenticated-message-bytes'], 4096);
if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) fail('--tls-cert and --tls-key go together');
if (values.user !== undefined && values['password-file'] === undefined) fail('--user needs --password-file');
let tls: { cert: Buffer; key: Buffer } | undefined;
let auth: { user: string; password: string } | undefined;
try {
  if (values['tls-cert'] && values['tls-key']) tls = { cert: fs.readFileSync(values['tls-cert']), key: fs.readFileSync(values['tls-key']) };
  if (values['password-file']) auth = { user: values.user ?? 'opsgate', password: readOrCreatePassword(values['password-file']) };
} catch (err) {
  fail((err as Error).message);
}

const logger = createLogger(process.env.LOG_LEVEL ?? 'info', process.stderr);
let server: EmbeddedMongoServer;
try {
  server = await EmbeddedMongoServer.start({ host: values.host, port, dbpath: values.dbpath, ttlMonitorSleepSecs: ttl, auth, tls, maxConnections, maxBufferedBytes, maxUnauthenticatedConnections, authTimeoutMs, maxUnauthenticatedMessageBytes, logger });
} catch (err) {
  process.stderr.write(`cannot start the embedded store: ${(err as Error).message}\n`);
  process.exit(1);
}
process.stdout.write(server.uri + '\n');

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping the embedded store');
  await server.stop();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
