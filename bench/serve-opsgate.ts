/**
 * Runs opsgate in its own process for benchmarks: embedded store in a temp folder, the fake
 * Slack API on loopback, the example catalog. Prints `PORT <n>` once it serves.
 *
 * A bench that watches the Slack side itself hands in its own fake's URL (BENCH_SLACK_API_URL),
 * and may hand in a catalog folder (BENCH_CATALOG_DIR) and a store running in its own process
 * (BENCH_MONGODB_URI), so this process's memory is the bot's alone.
 */
import { createOpsgate } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { FakeSlack } from '../test/helpers/fake-slack.js';
import { exampleCatalog, SIGNING_SECRET } from '../test/helpers/opsgate.js';
import { tempDir } from '../test/helpers/store.js';

const outsideSlack = process.env.BENCH_SLACK_API_URL;
const fake = outsideSlack ? undefined : await new FakeSlack().start();
const catalog = process.env.BENCH_CATALOG_DIR ?? exampleCatalog;
const config = loadConfig({
  PORT: '0',
  DATA_DIR: tempDir('bench-app'),
  SLACK_SIGNING_SECRET: SIGNING_SECRET,
  SLACK_BOT_TOKEN: 'xoxb-bench',
  SLACK_API_URL: outsideSlack ?? fake!.url,
  CATALOG_DIR: catalog,
  DIRECTORY_SOURCE: `${catalog}/directory.yaml`,
  LOG_LEVEL: 'warn',
  ...(process.env.BENCH_MONGODB_URI ? { MONGODB_URI: process.env.BENCH_MONGODB_URI } : {}),
});
const app = await createOpsgate(config, { logger: createLogger(config.LOG_LEVEL, process.stderr), slackRetries: 0 });
process.stdout.write(`PORT ${app.port}\n`);
process.on('SIGTERM', () => {
  void app
    .stop()
    .then(() => fake?.stop())
    .then(() => process.exit(0));
});
