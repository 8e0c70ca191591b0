/**
 * Entry point of `npm start`: read the configuration, build opsgate, stop cleanly on
 * SIGINT/SIGTERM. Wiring lives in src/app.ts.
 */
import { createOpsgate } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { chooseLogFormat, createLogger, currentRequestId, logWhole } from './logger.js';
import { startupSummary, summaryText } from './startup-summary.js';

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
const logger = createLogger(config.LOG_LEVEL, process.stdout, chooseLogFormat(config.LOG_FORMAT, process.stdout.isTTY));

/**
 * The last resort, behind the Slack guards and Bolt's error handlers (src/adapters/slack/): an
 * error nobody caught. When it happened while a Slack request was handled (its request id is in
 * scope), it is that request's failure: logged once with the request id, and the bot goes on,
 * so no single request can end the process; such code keeps no state shared across requests
 * that a half-run handler could leave broken (every state change is one store update). Any
 * other error (start-up, the scheduler, the store) leaves the process in a state nobody
 * checked: logged as fatal, and the process exits with 1 as Node would, for the supervisor to
 * restart it. (A pooled connection opened during a request keeps that request's scope, so an
 * error in one of its callbacks counts as the request's: the same judgement applies to it.)
 */
function lastResort(kind: 'uncaughtException' | 'unhandledRejection', err: unknown): void {
  if (currentRequestId() !== undefined) {
    logger.error({ err, kind }, 'a Slack request failed outside every handler; the bot goes on');
    return;
  }
  logger.fatal({ err, kind }, 'opsgate stopping: an error outside any request was not handled');
  // On Linux, writes to stdout (file, pipe or terminal) are synchronous: the line is out.
  process.exit(1);
}
process.on('uncaughtException', (err) => lastResort('uncaughtException', err));
process.on('unhandledRejection', (reason) => lastResort('unhandledRejection', reason));

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

// What a person starting the bot needs first: where things are, what is on, what to do next.
// Logged once the signal handlers are in place, so a Ctrl-C after reading it stops cleanly.
const summary = startupSummary(opsgate.startup);
logWhole(logger, { startup: summary.data }, summaryText(summary));
