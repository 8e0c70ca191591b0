/**
 * `npm run db -- --port N --dbpath DIR [--host H] [--ttl-secs S]`: the embedded store alone, in
 * the foreground. The first line on stdout is the mongodb:// URI it serves; logs go to stderr.
 * SIGINT or SIGTERM flushes the journal and exits.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../../logger.js';
import { EmbeddedMongoServer } from './server.js';

const usage = 'usage: npm run db -- --port N --dbpath DIR [--host 127.0.0.1] [--ttl-secs 60]';

function fail(msg: string): never {
  process.stderr.write(`${msg}\n${usage}\n`);
  process.exit(2);
}

let values: { port?: string; dbpath?: string; host?: string; 'ttl-secs'?: string; help?: boolean };
try {
  ({ values } = parseArgs({
    options: {
      port: { type: 'string', default: '27017' },
      dbpath: { type: 'string', default: './data/db' },
      host: { type: 'string', default: '127.0.0.1' },
      'ttl-secs': { type: 'string', default: '60' },
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

const logger = createLogger(process.env.LOG_LEVEL ?? 'info', process.stderr);
let server: EmbeddedMongoServer;
try {
  server = await EmbeddedMongoServer.start({ host: values.host, port, dbpath: values.dbpath, ttlMonitorSleepSecs: ttl, logger });
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
