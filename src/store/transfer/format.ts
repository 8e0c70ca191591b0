/**
 * The export folder `npm run db -- export` writes and `import` reads: `manifest.json` (what is
 * there, how it was read) and one `<collection>.jsonl` per collection, a document per line in
 * canonical Extended JSON (every BSON type kept: ObjectId, Date, Long, Decimal128, Binary, …).
 */
import { z } from 'zod';

export const EXPORT_FORMAT = 'opsgate-db-export';
export const EXPORT_VERSION = 1;

/** How the export was read: one point in time for every collection, or collection by collection. */
export const Consistency = {
  /** A snapshot session (replica set or sharded cluster, MongoDB 5.0 or later). */
  SnapshotSession: 'snapshot-session',
  /** One command reading every collection (the embedded store runs a command atomically). */
  SingleCommand: 'single-command',
  /** Neither available (a standalone MongoDB): each collection is read at its own moment. */
  PerCollection: 'per-collection',
} as const;

const indexSpec = z
  .object({ name: z.string().min(1), key: z.record(z.string(), z.union([z.number(), z.string()])) })
  .catchall(z.unknown());

export const manifestSchema = z.object({
  format: z.literal(EXPORT_FORMAT),
  version: z.literal(EXPORT_VERSION),
  database: z.string().min(1),
  exportedAt: z.string(),
  consistency: z.enum([Consistency.SnapshotSession, Consistency.SingleCommand, Consistency.PerCollection]),
  collections: z.array(
    z.object({
      name: z.string().min(1),
      /** A view's definition is kept (viewOn, pipeline); it has no documents. */
      type: z.enum(['collection', 'view']),
      options: z.record(z.string(), z.unknown()),
      file: z.string().regex(/^[A-Za-z0-9._%-]+\.jsonl$/).nullable(),
      count: z.number().int().nonnegative(),
      indexes: z.array(indexSpec),
    }),
  ),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type CollectionEntry = Manifest['collections'][number];

/** A file name for any collection name (they may hold characters a file system dislikes). */
export function fileFor(collection: string): string {
  return `${encodeURIComponent(collection).replace(/\*/g, '%2A')}.jsonl`;
}
