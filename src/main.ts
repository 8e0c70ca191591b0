/**
 * Entry point of `npm start`: read the configuration, build opsgate, stop cleanly on
 * SIGINT/SIGTERM. Wiring lives in src/app.ts.
 */
import { createOpsgate } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './logger.js';

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

const opsgate = await createOpsgate(config, { logger }).catch((err: Error) => {
  process.stderr.write(`opsgate: cannot start: ${err.message}\n`);
  process.exit(1);
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'opsgate stopping');
  await opsgate.stop();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
