/**
 * Issue 13 item 4: `__proto__`, `constructor` and `prototype` are ordinary field names. Before
 * the fix `updateOne({}, {$set: {'__proto__.txnNumber': 1}})` walked into Object.prototype and
 * every later command from every client failed ("Transaction numbers are only allowed on a
 * replica set"). Each payload below goes through the real driver (and through mongoose); after
 * each one Object.prototype has no new keys, another client's commands still work, and the
 * field comes back as data.
 */
import { deserialize } from 'bson';
import { MongoClient, type Collection, type Document } from 'mongodb';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStore, type TestStore } from '../helpers/store.js';

/** A document with own fields of those names (an object literal's `__proto__:` would set the prototype). */
function doc(json: string): Document {
  return JSON.parse(json) as Document;
}

const protoKeys = (): string[] => Object.getOwnPropertyNames(Object.prototype).sort();

describe('fields named __proto__, constructor and prototype', () => {
  let store: TestStore;
  let attacker: MongoClient;
  let other: MongoClient;
  let coll: Collection;
  let before: string[];

  beforeAll(async () => {
    store = await startTestStore();
    attacker = await MongoClient.connect(store.uri, { serverSelectionTimeoutMS: 5000 });
    other = await MongoClient.connect(store.uri, { serverSelectionTimeoutMS: 5000 });
    coll = attacker.db(store.dbName).collection('proto');
    before = protoKeys();
  });
  afterAll(async () => {
    await attacker?.close();
    await other?.close();
    await store?.stop();
  });

  /** Nothing leaked into this process's prototypes, and another client is served as before. */
  async function unharmed(): Promise<void> {
    expect(protoKeys()).toEqual(before);
    expect(({} as Record<string, unknown>).txnNumber).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const c = other.db(store.dbName).collection('bystander');
    await c.insertOne({ n: 1 });
    expect(await c.countDocuments({ n: 1 })).toBeGreaterThan(0);
    expect(await other.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
  }

  it("stores $set {'__proto__.txnNumber': 1} as data (the issue's payload) and keeps serving everyone", async () => {
    await coll.insertOne({ _id: 'a' as never, n: 1 });
    await coll.updateOne({}, { $set: { '__proto__.txnNumber': 1 } });
    await unharmed();
    const got = await coll.findOne({ _id: 'a' as never });
    expect(Object.hasOwn(got!, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(got!['__proto__']).toEqual({ txnNumber: 1 });
    expect(await coll.findOne({ '__proto__.txnNumber': 1 })).toMatchObject({ _id: 'a' });
  });

  it('inserts and returns documents holding the three names, nested too', async () => {
    const d = doc('{"_id": "b", "__proto__": {"polluted": 1}, "constructor": {"name": "Date"}, "prototype": {"x": 1}, "sub": {"__proto__": [1, 2]}}');
    await coll.insertOne(d);
    await unharmed();
    const got = (await coll.findOne({ _id: 'b' as never }))!;
    expect(Object.keys(got)).toEqual(['_id', '__proto__', 'constructor', 'prototype', 'sub']);
    expect(got['__proto__']).toEqual({ polluted: 1 });
    expect(got.constructor).toEqual({ name: 'Date' });
    expect(got.prototype).toEqual({ x: 1 });
    expect((got.sub as Document)['__proto__']).toEqual([1, 2]);
  });

  const operators: Array<[string, Document, (d: Document) => unknown, unknown]> = [
    ['$set constructor.prototype', { $set: { 'constructor.prototype.polluted': 1 } }, (d) => d.constructor, { name: 'Date', prototype: { polluted: 1 } }],
    ['$inc', { $inc: { '__proto__.n': 2 } }, (d) => d['__proto__'], { polluted: 1, n: 2 }],
    ['$mul', { $mul: { 'prototype.x': 5 } }, (d) => d.prototype, { x: 5 }],
    ['$min / $max', { $min: { '__proto__.lo': 3 }, $max: { 'prototype.hi': 9 } }, (d) => [d['__proto__'].lo, d.prototype.hi], [3, 9]],
    ['$push', { $push: { '__proto__.list': 'p' } }, (d) => d['__proto__'].list, ['p']],
    ['$addToSet', { $addToSet: { 'constructor.set': 's' } }, (d) => (d.constructor as Document).set, ['s']],
    ['$pop / $pull', { $pop: { 'sub.__proto__': 1 } }, (d) => d.sub['__proto__'], [1]],
    ['$pull', { $pull: { '__proto__.list': 'p' } }, (d) => d['__proto__'].list, []],
    ['$currentDate', { $currentDate: { '__proto__.at': true } }, (d) => d['__proto__'].at instanceof Date, true],
    ['$rename into one', { $rename: { 'prototype.x': '__proto__.renamed' } }, (d) => [d['__proto__'].renamed, d.prototype], [5, { hi: 9 }]],
    ['$unset', { $unset: { 'constructor.name': '' } }, (d) => (d.constructor as Document).name, undefined],
    ['$bit', { $bit: { '__proto__.n': { or: 1 } } }, (d) => d['__proto__'].n, 3],
  ];
  for (const [name, update, pick, expected] of operators) {
    it(`applies ${name} to such fields as data`, async () => {
      await coll.updateOne({ _id: 'b' as never }, update);
      await unharmed();
      expect(pick((await coll.findOne({ _id: 'b' as never }))!)).toEqual(expected);
    });
  }

  it('upserts from a filter on __proto__.k with $setOnInsert, and replaces a whole document holding the names', async () => {
    await coll.updateOne({ '__proto__.k': 5 } as Document, { $setOnInsert: { 'constructor.made': true } }, { upsert: true });
    await unharmed();
    const up = (await coll.findOne({ '__proto__.k': 5 }))!;
    expect([up['__proto__'], up.constructor]).toEqual([{ k: 5 }, { made: true }]);
    await coll.replaceOne({ _id: up._id }, doc('{"__proto__": {"replaced": true}, "prototype": 1}'));
    await unharmed();
    const rep = (await coll.findOne({ _id: up._id }))!;
    expect([rep['__proto__'], rep.prototype]).toEqual([{ replaced: true }, 1]);
    await coll.deleteOne({ _id: up._id });
  });

  it('runs a pipeline update that sets __proto__ and constructor', async () => {
    await coll.updateOne({ _id: 'a' as never }, [{ $set: { constructor: { via: 'pipeline' }, prototype: '$__proto__.txnNumber' } }]);
    await unharmed();
    const got = (await coll.findOne({ _id: 'a' as never }))!;
    expect([got.constructor, got.prototype, got['__proto__']]).toEqual([{ via: 'pipeline' }, 1, { txnNumber: 1 }]);
  });

  it('projects, sorts, filters and counts on those fields', async () => {
    const proj = await coll.find({ _id: { $in: ['a', 'b'] } as never }, { projection: { '__proto__.txnNumber': 1, constructor: 1, _id: 0 } }).sort({ '__proto__.n': -1 }).toArray();
    await unharmed();
    expect(proj.map((d) => Object.keys(d))).toEqual([['__proto__', 'constructor'], ['__proto__', 'constructor']]);
    expect(proj[1]!['__proto__']).toEqual({ txnNumber: 1 });
    const excl = await coll.findOne({ _id: 'b' as never }, { projection: doc('{"__proto__": 0, "sub": 0}') });
    expect(Object.keys(excl!)).toEqual(['_id', 'constructor', 'prototype']);
    const computed = await coll.findOne({ _id: 'a' as never }, { projection: { t: '$__proto__.txnNumber', c: '$constructor' } });
    expect(computed).toEqual({ _id: 'a', t: 1, c: { via: 'pipeline' } });
    expect(await coll.countDocuments({ constructor: { $exists: true } })).toBe(2);
    expect(await coll.countDocuments({ 'toString': { $exists: true } })).toBe(0);
    expect(await coll.distinct('__proto__.txnNumber')).toEqual([1]);
    const fam = await coll.findOneAndUpdate({ 'constructor.via': 'pipeline' }, { $set: { 'prototype': 'fam' } }, { returnDocument: 'after', projection: { prototype: 1 } });
    expect(fam).toEqual({ _id: 'a', prototype: 'fam' });
    await unharmed();
  });

  it('aggregates on them: $group, $project, $addFields, $lookup, $expr', async () => {
    const other2 = attacker.db(store.dbName).collection('proto_lookup');
    await other2.insertOne(doc('{"_id": 1, "constructor": {"k": 1}, "label": "one"}'));
    const grouped = await coll.aggregate([{ $match: { _id: { $in: ['a', 'b'] } } }, { $group: { _id: null, n: { $sum: '$__proto__.n' } } }]).toArray();
    expect(grouped).toEqual([{ _id: null, n: 3 }]);
    const projected = await coll.aggregate([{ $match: { _id: 'a' } }, { $project: { ...doc('{"_id": 0, "__proto__": 1}'), copy: '$__proto__', prototype: { $literal: doc('{"__proto__": 2}') } } }]).toArray();
    expect(projected).toHaveLength(1);
    expect(Object.keys(projected[0]!).sort()).toEqual(['__proto__', 'copy', 'prototype']);
    expect([projected[0]!['__proto__'], projected[0]!.copy, projected[0]!.prototype['__proto__']]).toEqual([{ txnNumber: 1 }, { txnNumber: 1 }, 2]);
    const added = await coll.aggregate([{ $match: { _id: 'a' } }, { $addFields: { 'constructor.added': 1 } }, { $project: { constructor: 1 } }]).toArray();
    expect(added).toEqual([{ _id: 'a', constructor: { via: 'pipeline', added: 1 } }]);
    const joined = await coll
      .aggregate([{ $match: { _id: 'a' } }, { $lookup: { from: 'proto_lookup', localField: '__proto__.txnNumber', foreignField: 'constructor.k', as: 'prototype' } }, { $project: { 'prototype.label': 1 } }])
      .toArray();
    expect(joined).toEqual([{ _id: 'a', prototype: [{ label: 'one' }] }]);
    expect(await coll.countDocuments({ $expr: { $eq: ['$__proto__.txnNumber', 1] } })).toBe(1);
    await unharmed();
  });

  // The review of issue 14 (item 2). Its reproduction wrote `{__proto__: ...}` as object
  // literals, which set the literal's prototype: the driver then sends no such field at all
  // (mongod gets the same empty spec). Here the names are own fields (JSON.parse), as a client
  // sending them as data has them.
  describe('names made from data in pipelines (review of issue 14)', () => {
    let rc: Collection;
    beforeAll(async () => {
      rc = attacker.db(store.dbName).collection('proto_review');
      await rc.insertMany([doc('{"_id": 1, "a": 1, "__proto__": {"x": 5, "y": 6}}'), doc('{"_id": 2, "a": 2, "__proto__": {"y": 7}}')]);
      await attacker.db(store.dbName).collection('proto_review_join').insertOne({ _id: 1 as never, k: 'one' });
    });

    it('builds a __proto__ field with $arrayToObject, from {k, v} and [k, v] pairs, as mongod does', async () => {
      const out = await rc
        .aggregate([
          { $match: { _id: 1 } },
          {
            $project: {
              _id: 0,
              kv: { $arrayToObject: [[{ k: '__proto__', v: { q: 1 } }, { k: 'constructor', v: 3 }]] },
              pairs: { $arrayToObject: { $literal: [['__proto__', 2], ['prototype', 4]] } },
            },
          },
          { $addFields: { q: '$kv.__proto__.q' } },
        ])
        .toArray();
      await unharmed();
      expect(out).toHaveLength(1);
      const r = out[0]!;
      expect(Object.keys(r.kv)).toEqual(['__proto__', 'constructor']);
      expect([r.kv['__proto__'], r.kv.constructor, r.q]).toEqual([{ q: 1 }, 3, 1]);
      expect(Object.keys(r.pairs)).toEqual(['__proto__', 'prototype']);
      expect([r.pairs['__proto__'], r.pairs.prototype]).toEqual([2, 4]);
      expect(Object.getPrototypeOf(r.kv)).toBe(Object.prototype);
    });

    it('gives __proto__ back as k from $objectToArray, and reads and writes it with $getField / $setField / $unsetField', async () => {
      const out = await rc
        .aggregate([
          { $match: { _id: 1 } },
          {
            $project: {
              _id: 0,
              keys: { $map: { input: { $objectToArray: '$$ROOT' }, in: '$$this.k' } },
              got: { $getField: '__proto__' },
              gotFrom: { $getField: { field: '__proto__', input: '$$ROOT' } },
              set: { $setField: { field: '__proto__', input: { a: 1 }, value: 9 } },
              unset: { $unsetField: { field: '__proto__', input: '$$ROOT' } },
            },
          },
        ])
        .toArray();
      await unharmed();
      expect(out[0]!.keys).toEqual(['_id', 'a', '__proto__']);
      expect([out[0]!.got, out[0]!.gotFrom]).toEqual([{ x: 5, y: 6 }, { x: 5, y: 6 }]);
      expect(Object.keys(out[0]!.set)).toEqual(['a', '__proto__']);
      expect(out[0]!.set['__proto__']).toBe(9);
      expect(out[0]!.unset).toEqual({ _id: 1, a: 1 });
    });

    it('names a $group accumulator __proto__ and sets __proto__ in a pipeline update', async () => {
      const grouped = await rc.aggregate([{ $group: doc('{"_id": null, "__proto__": {"$sum": "$a"}, "constructor": {"$push": "$_id"}}') }]).toArray();
      await unharmed();
      expect(grouped).toHaveLength(1);
      expect(Object.keys(grouped[0]!)).toEqual(['_id', '__proto__', 'constructor']);
      expect([grouped[0]!['__proto__'], grouped[0]!.constructor]).toEqual([3, [1, 2]]);
      await rc.updateOne({ _id: 2 as never }, [{ $set: doc('{"__proto__": {"via": "pipeline"}, "copy": "$__proto__.y"}') }]);
      await unharmed();
      const got = (await rc.findOne({ _id: 2 as never }))!;
      expect([got['__proto__'], got.copy]).toEqual([{ via: 'pipeline' }, 7]);
    });

    it('projects __proto__.x: the sub-document with x, or empty when it has no x (as mongod)', async () => {
      const out = await rc.find({}, { projection: { '__proto__.x': 1 } }).sort({ _id: 1 }).toArray();
      await unharmed();
      expect(out).toEqual([doc('{"_id": 1, "__proto__": {"x": 5}}'), doc('{"_id": 2, "__proto__": {}}')]);
    });

    it('joins into a field named __proto__ with $lookup: the reply holds the joined documents', async () => {
      // Read as raw BSON: the driver's own parser (mongodb 7.8 / bson 7.3) hands any array under
      // a field named __proto__ back as raw BSON Buffers, from mongod too (its default
      // fieldsAsRaw is {}, and ({})['__proto__'] is truthy).
      const raw = (await rc
        .aggregate([{ $match: { _id: 1 } }, { $lookup: { from: 'proto_review_join', localField: '_id', foreignField: '_id', as: '__proto__' } }], { raw: true })
        .toArray()) as unknown as Buffer[];
      await unharmed();
      const got = raw.map((b) => deserialize(b));
      expect(got).toHaveLength(1);
      expect(Object.keys(got[0]!)).toEqual(['_id', 'a', '__proto__']);
      expect(got[0]!['__proto__']).toEqual([{ _id: 1, k: 'one' }]);
    });
  });

  it('takes the same payloads through mongoose', async () => {
    const conn = await mongoose.createConnection(store.uri, { dbName: store.dbName, serverSelectionTimeoutMS: 5000 }).asPromise();
    try {
      const Loose = conn.model('Loose', new mongoose.Schema({ name: String }, { strict: false }), 'proto_mongoose');
      await Loose.create({ name: 'x' });
      await Loose.updateOne({}, { $set: { '__proto__.txnNumber': 1 } });
      await Loose.collection.updateOne({ name: 'x' }, { $set: { '__proto__.txnNumber': 1, 'constructor.prototype.polluted': 1 } });
      await Loose.collection.insertOne(doc('{"name": "y", "__proto__": {"polluted": 1}}'));
      await unharmed();
      expect(await Loose.countDocuments({})).toBe(2);
      const raw = await Loose.collection.findOne({ name: 'x' });
      expect([raw!['__proto__'], raw!.constructor]).toEqual([{ txnNumber: 1 }, { prototype: { polluted: 1 } }]);
      const y = await Loose.findOne({ name: 'y' }).lean();
      expect(y).toMatchObject({ name: 'y' });
      expect(await Loose.find({ 'constructor.prototype.polluted': 1 }).countDocuments()).toBe(1);
    } finally {
      await conn.close();
    }
    await unharmed();
  });
});
