/**
 * Reads the export folder: each table from `<table>.csv` (header row, RFC 4180 quoting) or
 * `<table>.jsonl` (one JSON object a line), every row checked against its schema. Nothing is
 * thrown for bad data: every problem is collected with its file, row and column, so one run
 * shows an operator all that must be fixed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import type { z } from 'zod';
import { OPTIONAL_COLUMNS, REQUIRED_TABLES, rowSchemas, TABLES, type ImportProblem, type ReadOptions, type TableName, type Tables } from './tables.js';

/** A file larger than this is refused before it is read (a year of the seed's volumes is ~10 MiB). */
export const MAX_FILE_BYTES = 512 * 1024 * 1024;

interface RawRow {
  row: number;
  values: Record<string, unknown>;
}

export interface ReadResult {
  tables: Tables;
  /** The file each table came from (absent tables are not listed). */
  files: Partial<Record<TableName, string>>;
  problems: ImportProblem[];
}

function findFile(folder: string, table: TableName, problems: ImportProblem[]): string | undefined {
  const found = ['.csv', '.jsonl', '.json'].map((ext) => path.join(folder, table + ext)).filter((f) => fs.existsSync(f));
  if (found.length > 1) problems.push({ file: path.basename(found[1]!), row: 0, message: `two exports of ${table} (${found.map((f) => path.basename(f)).join(', ')}): keep one` });
  if (found.length === 0 && REQUIRED_TABLES.includes(table)) problems.push({ file: `${table}.csv`, row: 0, message: `missing: the folder needs ${table}.csv or ${table}.jsonl` });
  return found[0];
}

function readCsv(file: string, text: string, problems: ImportProblem[]): RawRow[] {
  try {
    const records = parse(text, { columns: (header: string[]) => header.map((h) => h.trim()), bom: true, skip_empty_lines: true, info: true, relax_column_count: false }) as Array<{ record: Record<string, unknown>; info: { lines: number } }>;
    return records.map(({ record, info }) => ({ row: info.lines, values: record }));
  } catch (err) {
    const e = err as { message: string; lines?: number };
    problems.push({ file, row: e.lines ?? 0, message: `not valid CSV: ${e.message.split('\n')[0]}` });
    return [];
  }
}

function readJsonLines(file: string, text: string, problems: ImportProblem[]): RawRow[] {
  const rows: RawRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const v: unknown = JSON.parse(line);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) problems.push({ file, row: i + 1, message: 'each line must be one JSON object' });
      else rows.push({ row: i + 1, values: v as Record<string, unknown> });
    } catch (err) {
      problems.push({ file, row: i + 1, message: `not valid JSON: ${(err as Error).message}` });
    }
  });
  return rows;
}

/** The columns the schema names that the file lacks (the header for CSV, each object for JSON lines). */
function missingColumns(schema: z.ZodObject, values: Record<string, unknown>): string[] {
  return Object.keys(schema.shape).filter((c) => !OPTIONAL_COLUMNS.has(c) && !(c in values));
}

export function readTables(folder: string, opts: ReadOptions): ReadResult {
  const problems: ImportProblem[] = [];
  const schemas = rowSchemas(opts);
  const tables = Object.fromEntries(TABLES.map((t) => [t, []])) as unknown as Tables;
  const files: ReadResult['files'] = {};
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) {
    return { tables, files, problems: [{ file: folder, row: 0, message: 'is not a folder' }] };
  }
  for (const table of TABLES) {
    const full = findFile(folder, table, problems);
    if (!full) continue;
    const file = path.basename(full);
    files[table] = file;
    const size = fs.statSync(full).size;
    if (size > MAX_FILE_BYTES) {
      problems.push({ file, row: 0, message: `is ${size} bytes; at most ${MAX_FILE_BYTES} are read` });
      continue;
    }
    const text = fs.readFileSync(full, 'utf8');
    const raw = full.endsWith('.csv') ? readCsv(file, text, problems) : readJsonLines(file, text, problems);
    const schema = schemas[table] as unknown as z.ZodObject;
    const headerMissing = full.endsWith('.csv') && raw[0] ? missingColumns(schema, raw[0].values) : [];
    if (headerMissing.length > 0) {
      problems.push({ file, row: 1, column: headerMissing[0], message: `the header lacks ${headerMissing.join(', ')}` });
      continue;
    }
    const out = tables[table] as unknown as Array<Record<string, unknown>>;
    for (const { row, values } of raw) {
      const lacking = full.endsWith('.csv') ? [] : missingColumns(schema, values);
      if (lacking.length > 0) {
        problems.push({ file, row, column: lacking[0], message: `lacks ${lacking.join(', ')}` });
        continue;
      }
      const parsed = schema.safeParse(values);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) problems.push({ file, row, column: String(issue.path[0] ?? ''), message: issue.message });
        continue;
      }
      out.push({ ...parsed.data, ref: { file, row } });
    }
  }
  return { tables, files, problems };
}
