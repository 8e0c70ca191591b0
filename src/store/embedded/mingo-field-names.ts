/**
 * mingo's `$arrayToObject` and `$objectToArray`, replaced so that field names made from data
 * stay data. Inside mingo the names `__proto__`, `constructor` and `prototype` are held escaped
 * (bson-values.ts, toMingo); mingo's own `$arrayToObject` assigned `obj[k] = v`, so a pair with
 * k `__proto__` set the new object's prototype (the result came back `{}`), and its
 * `$objectToArray` handed the escaped names out as `k`. It also read `[[{k, v}]]`, MongoDB's
 * usual spelling (one argument, a literal array), as pairs of pairs.
 */
import { Aggregator } from 'mingo/aggregator';
import { Context, evalExpr } from 'mingo/core';
import * as accumulator from 'mingo/operators/accumulator';
import * as expression from 'mingo/operators/expression';
import * as pipeline from 'mingo/operators/pipeline';
import * as projection from 'mingo/operators/projection';
import * as query from 'mingo/operators/query';
import * as window from 'mingo/operators/window';
import { escapeName, getField, hasField, isPlainObject, setField, typeName, unescapeName, type Doc } from './bson-values.js';
import { MongoError } from './errors.js';

type Options = Parameters<typeof evalExpr>[2];

/** An operator taking one argument: `[x]` is the argument list, as MongoDB reads it. */
function oneArgument(op: string, expr: unknown): unknown {
  if (!Array.isArray(expr)) return expr;
  if (expr.length !== 1) throw new MongoError(16020, `Expression ${op} takes exactly 1 arguments. ${expr.length} were passed in.`);
  return expr[0];
}

function pairOf(item: unknown): [unknown, unknown] {
  if (Array.isArray(item)) {
    if (item.length !== 2) throw new MongoError(40397, `$arrayToObject requires an array of size 2 arrays,found array of size: ${item.length}`);
    return [item[0], item[1]];
  }
  if (isPlainObject(item)) {
    const keys = Object.keys(item);
    if (keys.length !== 2) throw new MongoError(40392, `$arrayToObject requires an object keys of 'k' and 'v'. Found incorrect number of keys:${keys.length}`);
    if (!hasField(item, 'k') || !hasField(item, 'v')) throw new MongoError(40393, "$arrayToObject requires an object with keys 'k' and 'v'. Missing either or both keys");
    return [getField(item, 'k'), getField(item, 'v')];
  }
  throw new MongoError(40398, `Unrecognised input type format for $arrayToObject: ${typeName(item)}`);
}

function arrayToObject(obj: unknown, expr: unknown, options: Options): unknown {
  const arr = evalExpr(obj, oneArgument('$arrayToObject', expr) as never, options);
  if (arr === null || arr === undefined) return null;
  if (!Array.isArray(arr)) throw new MongoError(40386, `$arrayToObject requires an array input, found: ${typeName(arr)}`);
  const out: Doc = {};
  for (const item of arr) {
    const [k, v] = pairOf(item);
    if (typeof k !== 'string') throw new MongoError(40394, `$arrayToObject requires a key of type string. Found key type: ${typeName(k)}`);
    if (k.includes('\0')) throw new MongoError(4940400, "Key field cannot contain an embedded null byte");
    // Held escaped like every name inside mingo; fromMingo gives the client `__proto__` back as data.
    setField(out, escapeName(k), v);
  }
  return out;
}

function objectToArray(obj: unknown, expr: unknown, options: Options): unknown {
  const val = evalExpr(obj, oneArgument('$objectToArray', expr) as never, options);
  if (val === null || val === undefined) return null;
  if (!isPlainObject(val)) throw new MongoError(40390, `$objectToArray requires a document input, found: ${typeName(val)}`);
  return Object.keys(val).map((k) => ({ k: unescapeName(k), v: val[k] }));
}

// mingo's own Aggregator merges a given context under its built-in operators (the built-ins
// win), so the store builds the whole operator set itself with these two replaced.
const context = Context.init({
  accumulator,
  expression: { ...expression, $arrayToObject: arrayToObject, $objectToArray: objectToArray } as never,
  pipeline,
  projection,
  query,
  window,
} as never);

type AggregatorOptions = NonNullable<ConstructorParameters<typeof Aggregator>[1]>;

/** A mingo Aggregator with every operator of mingo's and the two above. */
export function storeAggregator(stages: Doc[], options: Omit<AggregatorOptions, 'context'> = {}): Aggregator {
  return new Aggregator(stages, { ...options, context } as AggregatorOptions);
}
