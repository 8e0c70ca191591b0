/**
 * `npm run import -- --from <folder> [--dry-run] [--timezone +08:00] [--report FILE] [--uri URI]`
 * and `npm run import -- --adopt-report [--uri URI]`: the one-off migration from the old
 * bastion (seed 003's 迁移数据脚本). Runs with the bot's configuration (the same environment:
 * MONGODB_URI or the embedded store in DATA_DIR, the bot's SSH key for --adopt-report);
 * `--uri` names another store. The report goes to stdout; refusals to stderr with exit code 2.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import mongoose from 'mongoose';
import { systemClock } from '../../clock.js';
import { ConfigError, loadConfig, type Config } from '../../config.js';
import { engineFromConfig } from '../../adapters/exec/engine-from-config.js';
import { createLogger } from '../../logger.js';
import { inventoryModels } from '../../models/inventory.js';
import { personModel } from '../../models/person.js';
import { dbNameOf, openStore, redactUri } from '../../store/connect.js';
import { adoptReport, adoptReportText } from './adopt-report.js';
import { importOldBastion } from './import.js';
import { problemsText, reportJson, reportText } from './report.js';
import { parseTimezone } from './tables.js';

export const IMPORT_USAGE =
  'usage: npm run import -- --from FOLDER [--dry-run] [--timezone +08:00] [--report FILE.json] [--uri mongodb://…]\n' +
  '       npm run import -- --adopt-report [--uri mongodb://…]';

interface Streams {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

async function connect(config: Config, uri: string | undefined, logger: ReturnType<typeof createLogger>) {
  if (uri) {
    const conn = await mongoose.createConnection(uri, { dbName: dbNameOf(uri), serverSelectionTimeoutMS: 10_000 }).asPromise();
    return { conn, where: redactUri(uri), close: () => conn.close() };
  }
  const store = await openStore(config, logger);
  return { conn: store.connection, where: store.embedded ? `the embedded store in ${config.DATA_DIR}` : redactUri(store.uri), close: () => store.close() };
}

export async function runImportCli(argv: string[], env: NodeJS.ProcessEnv = process.env, { out, err }: Streams = { out: process.stdout, err: process.stderr }): Promise<number> {
  let values: { from?: string; 'dry-run'?: boolean; timezone?: string; report?: string; uri?: string; 'adopt-report'?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { from: { type: 'string' }, 'dry-run': { type: 'boolean' }, timezone: { type: 'string' }, report: { type: 'string' }, uri: { type: 'string' }, 'adopt-report': { type: 'boolean' } } }));
  } catch (e) {
    err.write(`${(e as Error).message}\n${IMPORT_USAGE}\n`);
    return 2;
  }
  const adopt = Boolean(values['adopt-report']);
  if (adopt === Boolean(values.from) || (adopt && (values['dry-run'] || values.timezone || values.report))) {
    err.write(`give either --from FOLDER or --adopt-report\n${IMPORT_USAGE}\n`);
    return 2;
  }
  const timezone = parseTimezone(values.timezone ?? 'Z');
  if (!timezone) {
    err.write(`--timezone must be Z or an offset such as +08:00 (got ${values.timezone})\n`);
    return 2;
  }
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      err.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const logger = createLogger(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL, process.stderr);
  let store: Awaited<ReturnType<typeof connect>>;
  try {
    store = await connect(config, values.uri, logger);
  } catch (e) {
    err.write(`cannot open the store: ${(e as Error).message}\n(with the embedded store, stop the bot first, or give --uri of a running store)\n`);
    return 2;
  }
  try {
    if (adopt) return await adoptCli(config, store.conn, logger, out);
    const outcome = await importOldBastion(store.conn, values.from!, { dryRun: Boolean(values['dry-run']), timezone, dayMs: config.ACCESS_DAY_MS });
    if (values.report) fs.writeFileSync(values.report, JSON.stringify(reportJson(values.from!, outcome.plan, outcome.written), null, 2) + '\n', { mode: 0o600 });
    if (outcome.plan.problems.length > 0) {
      err.write(problemsText(outcome.plan.problems));
      return 2;
    }
    out.write(`into ${store.where}\n` + reportText(values.from!, outcome.plan, outcome.written, outcome.files));
    return 0;
  } finally {
    await store.close();
  }
}

async function adoptCli(config: Config, conn: mongoose.Connection, logger: ReturnType<typeof createLogger>, out: NodeJS.WritableStream): Promise<number> {
  const { engine, toTarget } = engineFromConfig(config, logger, systemClock);
  try {
    const hosts = await inventoryModels(conn).Host.find({ archived: false }).sort({ name: 1 }).lean();
    const people = (await personModel(conn).find({}, { personId: 1, active: 1, sshKeys: 1, importedSshKeys: 1 }).lean()).map((p) => ({ personId: p.personId, active: p.active, keys: [...(p.sshKeys ?? []), ...(p.importedSshKeys ?? [])] }));
    const report = await adoptReport({
      hosts,
      people,
      toTarget,
      keysFileFor: (h) => h.authorizedKeysFile ?? config.AUTHORIZED_KEYS_FILE,
      run: (targets, command) => engine.start({ targets, command, timeoutMs: 60_000, startedBy: 'system:adopt-report' }).done,
    });
    out.write(adoptReportText(report));
    return 0;
  } finally {
    await engine.close();
  }
}
