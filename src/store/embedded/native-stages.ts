/**
 * Aggregation stages the store runs itself instead of handing them to mingo.
 *
 * mingo sees plain JavaScript copies of the documents (see toPlain), so every value that goes
 * through it comes back as a JS number: a Long past 2^53 loses its low bits and a Decimal128
 * turns into a double. Stages that only filter, order, page or pick fields do no arithmetic,
 * so the leading run of them is applied here to the stored documents, which keep their BSON
 * types exactly as a `find` returns them. Mongoose's paging pipelines
 * (`$match`, `$sort`, `$skip`, `$limit`, `$project`) never reach mingo at all.
 */
import { isNumeric, isPlainObject, toNumber, type Doc } from './bson-values.js';
import { compileFilter } from './matcher.js';
import { compileProjection, compileSort } from './sort-project.js';

/** A positive (for $limit) or non-negative (for $skip) whole number, else undefined. */
function count(v: unknown, min: number): number | undefined {
  if (!isNumeric(v)) return undefined;
  const n = toNumber(v);
  return Number.isInteger(n) && n >= min ? n : undefined;
}

/** `{a: 1, b: 0, ...}` with only 0/1/true/false: a plain field selection, the same in find and $project. */
function isFieldSelection(spec: unknown): spec is Doc {
  if (!isPlainObject(spec) || Object.keys(spec).length === 0) return false;
  if (Object.keys(spec).some((k) => k.startsWith('$') || k.includes('.$'))) return false;
  return Object.values(spec).every((v) => typeof v === 'boolean' || (isNumeric(v) && [0, 1].includes(toNumber(v))));
}

/** `{a: 1, b: -1}`: a sort on fields ($meta and $natural are left to mingo). */
function isFieldSort(spec: unknown): spec is Doc {
  if (!isPlainObject(spec) || Object.keys(spec).length === 0) return false;
  if (Object.keys(spec).some((k) => k.startsWith('$'))) return false;
  return Object.values(spec).every((v) => isNumeric(v) && [1, -1].includes(toNumber(v)));
}

/**
 * Applies the leading `$match` / `$sort` / `$skip` / `$limit` / plain `$project` stages of
 * `pipeline` to `docs`; returns the documents and the stages still to run. A stage with an
 * argument it does not handle ends the prefix, and mingo reports that stage's error as before.
 */
export function runNativePrefix(docs: Doc[], pipeline: Doc[], variables?: Doc): { docs: Doc[]; rest: Doc[] } {
  let out = docs;
  let i = 0;
  for (; i < pipeline.length; i++) {
    const stage = pipeline[i]!;
    const op = Object.keys(stage)[0];
    const arg = stage[op!];
    if (op === '$match' && isPlainObject(arg)) {
      const pred = compileFilter(arg, variables);
      out = out.filter((d) => pred(d));
    } else if (op === '$sort' && isFieldSort(arg)) {
      const cmp = compileSort(arg)!;
      out = [...out].sort(cmp);
    } else if (op === '$skip' && count(arg, 0) !== undefined) {
      out = out.slice(count(arg, 0));
    } else if (op === '$limit' && count(arg, 1) !== undefined) {
      out = out.slice(0, count(arg, 1));
    } else if (op === '$project' && isFieldSelection(arg)) {
      out = out.map(compileProjection(arg)!);
    } else {
      break;
    }
  }
  return { docs: out, rest: pipeline.slice(i) };
}
