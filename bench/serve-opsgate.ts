/**
 * Runs opsgate in its own process for benchmarks: embedded store in a temp folder, the fake
 * Slack API on loopback, the example catalog. Prints `PORT <n>` once it serves.
 */
import { createOpsgate } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { FakeSlack } from '../test/helpers/fake-slack.js';
import { exampleCatalog, SIGNING_SECRET } from '../test/helpers/opsgate.js';
import { tempDir } from '../test/helpers/store.js';

const fake = await new FakeSlack().start();
const config = loadConfig({
  PORT: '0',
  DATA_DIR: tempDir('bench-app'),
  SLACK_SIGNING_SECRET: SIGNING_SECRET,
  SLACK_BOT_TOKEN: 'xoxb-bench',
  SLACK_API_URL: fake.url,
  CATALOG_DIR: exampleCatalog,
  DIRECTORY_SOURCE: `${exampleCatalog}/directory.yaml`,
  LOG_LEVEL: 'warn',
});
const app = await createOpsgate(config, { logger: createLogger(config.LOG_LEVEL, process.stderr), slackRetries: 0 });
process.stdout.write(`PORT ${app.port}\n`);
process.on('SIGTERM', () => {
  void app.stop().then(() => fake.stop()).then(() => process.exit(0));
});
