/**
 * Composition root: config -> logger -> store -> HTTP -> start. The only module that wires
 * things together; everything else takes its dependencies as arguments.
 */
import http from 'node:http';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './logger.js';
import { openStore } from './store/connect.js';

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message.split('\n').map((line) => `opsgate: bad configuration: ${line}\n`).join(''));
      process.exit(1);
    }
    throw err;
  }
}

const config = readConfig();
const logger = createLogger(config.LOG_LEVEL);

const store = await openStore(config, logger).catch((err: Error) => {
  process.stderr.write(`opsgate: cannot open the store: ${err.message}\n`);
  process.exit(1);
});

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    void store.ping().then((ok) => {
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok, store: ok ? 'up' : 'down' }));
    });
    return;
  }
  res.writeHead(404).end();
});
server.listen(config.PORT, () => logger.info({ port: config.PORT }, 'opsgate listening'));

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'opsgate stopping');
  server.close();
  await store.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
