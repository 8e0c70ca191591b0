/**
 * `npm run db -- export --uri <mongodb uri> --out <folder>` and
 * `npm run db -- import --uri <mongodb uri> --from <folder> [--drop]`: moving opsgate's
 * database between the embedded store and any MongoDB. The URI's path names the database
 * (opsgate when it names none). A summary goes to stdout; a refusal to stderr, exit code 2.
 */
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { dbNameOf, redactUri } from '../connect.js';
import { exportDatabase, TransferError } from './export.js';
import { Consistency } from './format.js';
import { importDatabase } from './import.js';

export const TRANSFER_USAGE =
  'usage: npm run db -- export --uri mongodb://…/opsgate --out FOLDER\n' + '       npm run db -- import --uri mongodb://…/opsgate --from FOLDER [--drop]';

export async function runTransfer(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const [command, ...rest] = argv;
  let values: { uri?: string; out?: string; from?: string; drop?: boolean };
  try {
    ({ values } = parseArgs({ args: rest, options: { uri: { type: 'string' }, out: { type: 'string' }, from: { type: 'string' }, drop: { type: 'boolean' } } }));
  } catch (e) {
    err.write(`${(e as Error).message}\n${TRANSFER_USAGE}\n`);
    return 2;
  }
  const folder = command === 'export' ? values.out : values.from;
  if (!values.uri || !folder || (command === 'export' && (values.from || values.drop))) {
    err.write(`${command}: needs --uri and ${command === 'export' ? '--out' : '--from'}\n${TRANSFER_USAGE}\n`);
    return 2;
  }
  const client = new MongoClient(values.uri, { serverSelectionTimeoutMS: 10_000 });
  const dbName = dbNameOf(values.uri);
  try {
    await client.connect();
    if (command === 'export') {
      const { manifest } = await exportDatabase(client, dbName, folder);
      const total = manifest.collections.reduce((n, c) => n + c.count, 0);
      const views = manifest.collections.filter((c) => c.type === 'view').length;
      out.write(`exported ${dbName} from ${redactUri(values.uri)} to ${folder}: ${manifest.collections.length - views} collections, ${views} views, ${total} documents (${manifest.consistency})\n`);
      for (const c of manifest.collections) out.write(`  ${c.name}: ${c.type === 'view' ? 'view' : `${c.count} documents, ${c.indexes.length} indexes`}\n`);
      if (manifest.consistency === Consistency.PerCollection) {
        err.write('note: a standalone MongoDB has no snapshot reads, so each collection was read at its own moment; stop the bots first for a consistent copy\n');
      }
    } else {
      const r = await importDatabase(client, dbName, folder, { drop: values.drop });
      if (r.dropped.length > 0) out.write(`dropped ${r.dropped.length} collections first (--drop)\n`);
      out.write(`imported ${folder} into ${dbName} at ${redactUri(values.uri)}: ${r.collections.length} collections, ${r.views.length} views, ${r.collections.reduce((n, c) => n + c.count, 0)} documents\n`);
    }
    return 0;
  } catch (e) {
    if (e instanceof TransferError) {
      err.write(`${command} refused: ${e.message}\n`);
      return 2;
    }
    err.write(`${command} failed: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await client.close();
  }
}
