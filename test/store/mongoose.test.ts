/**
 * mongoose 9 against the store: the features the bot's models rely on must behave as they do
 * on a standalone MongoDB 7 (run with MONGODB_URI set to check the same file against one).
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mongoose, { type Connection } from 'mongoose';
// The driver's own BSON classes (the CommonJS copy of bson that mongodb loads), so that
// instanceof works on what it returns.
import { Decimal128, Int32, Long } from 'mongodb';
import { startTestStore, tempDir, type TestStore } from '../helpers/store.js';

let store: TestStore;
let dbpath: string;
let conn: Connection;

beforeAll(async () => {
  dbpath = tempDir('mongoose'); // journaled, as the bot runs the store
  store = await startTestStore({ dbpath });
  conn = mongoose.createConnection(store.uri, { dbName: store.dbName, serverSelectionTimeoutMS: 5000 });
  await conn.asPromise();
});

afterAll(async () => {
  await conn?.dropDatabase().catch(() => undefined);
  await conn?.close();
  await store?.stop();
  if (dbpath) fs.rmSync(dbpath, { recursive: true, force: true });
});

describe('mongoose on the embedded store', () => {
  it('reports a unique index violation as E11000 with code 11000 and keyValue', async () => {
    const User = conn.model('UniqUser', new mongoose.Schema({ email: { type: String, unique: true }, name: String }));
    await User.init();
    await User.create({ email: 'a@example.com', name: 'first' });
    const err = (await User.create({ email: 'a@example.com', name: 'second' }).catch((e: unknown) => e)) as {
      code?: number;
      message?: string;
      keyValue?: unknown;
      keyPattern?: unknown;
    };
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(11000);
    expect(err.message).toMatch(/^E11000 duplicate key error/);
    expect(err.keyValue).toEqual({ email: 'a@example.com' });
    expect(err.keyPattern).toEqual({ email: 1 });
    // insertMany (unordered) reports the same error for the duplicate and keeps the others.
    const bulk = (await User.insertMany(
      [{ email: 'b@example.com' }, { email: 'a@example.com' }, { email: 'c@example.com' }],
      { ordered: false },
    ).catch((e: unknown) => e)) as { code?: number; writeErrors?: Array<{ code?: number; index?: number }> };
    expect(bulk.code).toBe(11000);
    expect(bulk.writeErrors?.map((w) => [w.index, w.code])).toEqual([[1, 11000]]);
    expect((await User.find().sort({ email: 1 }).lean()).map((u) => u.email)).toEqual(['a@example.com', 'b@example.com', 'c@example.com']);
    // Updating a document onto an existing unique key is refused too.
    const upd = (await User.updateOne({ email: 'b@example.com' }, { $set: { email: 'c@example.com' } }).catch((e: unknown) => e)) as { code?: number };
    expect(upd.code).toBe(11000);
    expect(await User.countDocuments({ email: 'b@example.com' })).toBe(1);
  });

  it('enforces a compound unique index (as the role grants use) on the whole key', async () => {
    const schema = new mongoose.Schema({ kind: String, subject: String, resource: String, role: Number });
    schema.index({ kind: 1, subject: 1, resource: 1, role: 1 }, { unique: true });
    const Grant = conn.model('UniqGrant', schema);
    await Grant.init();
    await Grant.create({ kind: 'person', subject: 'ann', resource: 'web-1', role: 1 });
    // Any one field different is a different key.
    await Grant.create({ kind: 'person', subject: 'ann', resource: 'web-1', role: 2 });
    await Grant.create({ kind: 'team', subject: 'ann', resource: 'web-1', role: 1 });
    const dup = (await Grant.create({ kind: 'person', subject: 'ann', resource: 'web-1', role: 1 }).catch((e: unknown) => e)) as {
      code?: number;
      keyValue?: unknown;
      keyPattern?: unknown;
    };
    expect(dup.code).toBe(11000);
    expect(dup.keyPattern).toEqual({ kind: 1, subject: 1, resource: 1, role: 1 });
    expect(dup.keyValue).toEqual({ kind: 'person', subject: 'ann', resource: 'web-1', role: 1 });
    // A missing field is indexed as null, so two documents both lacking it collide.
    await Grant.create({ kind: 'person', subject: 'bob', role: 1 });
    const missing = (await Grant.create({ kind: 'person', subject: 'bob', role: 1 }).catch((e: unknown) => e)) as { code?: number; keyValue?: unknown };
    expect(missing.code).toBe(11000);
    expect(missing.keyValue).toEqual({ kind: 'person', subject: 'bob', resource: null, role: 1 });
    expect(await Grant.countDocuments()).toBe(4);
  });

  it('sets createdAt/updatedAt with schema timestamps and moves updatedAt on change', async () => {
    const Note = conn.model('TsNote', new mongoose.Schema({ text: String }, { timestamps: true }));
    const created = await Note.create({ text: 'one' });
    expect(created.createdAt).toBeInstanceOf(Date);
    expect(created.updatedAt?.getTime()).toBe(created.createdAt?.getTime());
    const stored = await Note.findById(created._id).lean();
    expect(stored?.createdAt).toEqual(created.createdAt);

    await new Promise((r) => setTimeout(r, 20));
    created.text = 'two';
    await created.save();
    const afterSave = await Note.findById(created._id).lean();
    expect(afterSave?.text).toBe('two');
    expect(afterSave?.createdAt).toEqual(created.createdAt);
    expect(afterSave!.updatedAt!.getTime()).toBeGreaterThan(afterSave!.createdAt!.getTime());

    await new Promise((r) => setTimeout(r, 20));
    const viaUpdate = await Note.findOneAndUpdate({ _id: created._id }, { $set: { text: 'three' } }, { returnDocument: 'after' }).lean();
    expect(viaUpdate?.text).toBe('three');
    expect(viaUpdate!.updatedAt!.getTime()).toBeGreaterThan(afterSave!.updatedAt!.getTime());
    expect(viaUpdate?.createdAt).toEqual(created.createdAt);
  });

  it('upserts with findOneAndUpdate, applying $setOnInsert only on insert', async () => {
    const Counter = conn.model(
      'UpCounter',
      new mongoose.Schema({ key: String, n: Number, firstSeen: Date, tags: [String] }, { timestamps: true }),
    );
    const first = await Counter.findOneAndUpdate(
      { key: 'deploys' },
      { $inc: { n: 1 }, $setOnInsert: { firstSeen: new Date('2024-01-01T00:00:00Z') }, $addToSet: { tags: 'a' } },
      { upsert: true, returnDocument: 'after' },
    ).lean();
    expect(first).toMatchObject({ key: 'deploys', n: 1, firstSeen: new Date('2024-01-01T00:00:00Z'), tags: ['a'] });
    expect(first?.createdAt).toBeInstanceOf(Date);

    const second = await Counter.findOneAndUpdate(
      { key: 'deploys' },
      { $inc: { n: 1 }, $setOnInsert: { firstSeen: new Date('2030-01-01T00:00:00Z') }, $addToSet: { tags: 'b' } },
      { upsert: true, returnDocument: 'after' },
    ).lean();
    expect(second).toMatchObject({ key: 'deploys', n: 2, firstSeen: new Date('2024-01-01T00:00:00Z'), tags: ['a', 'b'] });
    expect(second?._id).toEqual(first?._id);
    expect(second?.createdAt).toEqual(first?.createdAt);

    // Without new:true the pre-image comes back; on an upsert that is null.
    const before = await Counter.findOneAndUpdate({ key: 'other' }, { $set: { n: 5 } }, { upsert: true }).lean();
    expect(before).toBeNull();
    const raw = (await Counter.findOneAndUpdate({ key: 'other' }, { $set: { n: 6 } }, { upsert: true, includeResultMetadata: true })
      .lean()
      .exec()) as unknown as { lastErrorObject?: { updatedExisting?: boolean }; value?: { n?: number } };
    expect(raw.lastErrorObject?.updatedExisting).toBe(true);
    expect(raw.value?.n).toBe(5);
    expect(await Counter.countDocuments()).toBe(2);
  });

  it('populates references across two models', async () => {
    const Team = conn.model('PopTeam', new mongoose.Schema({ name: String }));
    const Member = conn.model(
      'PopMember',
      new mongoose.Schema({ handle: String, team: { type: mongoose.Schema.Types.ObjectId, ref: 'PopTeam' } }),
    );
    const [ops, dev] = await Team.create([{ name: 'ops' }, { name: 'dev' }]);
    await Member.create([
      { handle: 'ann', team: ops!._id },
      { handle: 'bob', team: dev!._id },
      { handle: 'cid', team: ops!._id },
    ]);
    const members = await Member.find().sort({ handle: 1 }).populate<{ team: { name: string } }>('team').lean();
    expect(members.map((m) => [m.handle, m.team.name])).toEqual([
      ['ann', 'ops'],
      ['bob', 'dev'],
      ['cid', 'ops'],
    ]);
    // Virtual populate the other way: a team and its members.
    const TeamWithMembers = conn.model(
      'PopTeamV',
      (() => {
        const s = new mongoose.Schema({ name: String }, { collection: Team.collection.collectionName });
        s.virtual('members', { ref: 'PopMember', localField: '_id', foreignField: 'team' });
        return s;
      })(),
    );
    const team = await TeamWithMembers.findById(ops!._id).populate<{ members: Array<{ handle: string }> }>({ path: 'members', options: { sort: { handle: 1 } } });
    expect(team?.members.map((m) => m.handle)).toEqual(['ann', 'cid']);
  });

  it('streams 1,000 documents through a cursor with getMore, all in order', async () => {
    const Row = conn.model('CurRow', new mongoose.Schema({ i: Number, pad: String }));
    const docs = Array.from({ length: 1000 }, (_, i) => ({ i, pad: 'x'.repeat(50) }));
    await Row.insertMany(docs);
    const seen: number[] = [];
    // batchSize 64 forces the driver through many getMore round trips.
    for await (const d of Row.find().sort({ i: 1 }).batchSize(64).cursor()) seen.push(d.i as number);
    expect(seen).toHaveLength(1000);
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    // Default batch size (101 first, then getMore) in natural order works too.
    let n = 0;
    let last = -1;
    for await (const d of Row.find().lean().cursor()) {
      expect(d.i).toBeGreaterThan(last);
      last = d.i as number;
      n++;
    }
    expect(n).toBe(1000);

    // Closing a cursor early kills it on the server (killCursors), as MongoDB's open count shows.
    const openCursors = async (): Promise<number> => {
      const status = await conn.db!.admin().serverStatus();
      return Number(status.metrics?.cursor?.open?.total ?? Number.NaN);
    };
    const openBefore = await openCursors();
    const cursor = Row.find().sort({ i: 1 }).batchSize(10).cursor();
    const firstTen: number[] = [];
    for await (const d of cursor) {
      firstTen.push(d.i as number);
      if (firstTen.length === 10) break;
    }
    expect(firstTen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await openCursors()).toBe(openBefore + 1);
    await cursor.close();
    expect(await openCursors()).toBe(openBefore);
  });

  it('counts with countDocuments and a filter', async () => {
    const Ticket = conn.model('CntTicket', new mongoose.Schema({ status: String, prio: Number }));
    await Ticket.insertMany(Array.from({ length: 30 }, (_, i) => ({ status: i % 3 === 0 ? 'open' : 'closed', prio: i % 5 })));
    expect(await Ticket.countDocuments({ status: 'open' })).toBe(10);
    expect(await Ticket.countDocuments({ status: 'open', prio: { $gte: 3 } })).toBe(4);
    expect(await Ticket.countDocuments({ status: 'missing' })).toBe(0);
    expect(await Ticket.countDocuments()).toBe(30);
    expect(await Ticket.estimatedDocumentCount()).toBe(30);
  });

  it('aggregates with $group, summing per key', async () => {
    const Run = conn.model('AggRun', new mongoose.Schema({ host: String, secs: Number, ok: Boolean }));
    await Run.insertMany([
      { host: 'a', secs: 3, ok: true },
      { host: 'b', secs: 5, ok: false },
      { host: 'a', secs: 4, ok: false },
      { host: 'c', secs: 1, ok: true },
      { host: 'b', secs: 10, ok: true },
    ]);
    const rows = await Run.aggregate<{ _id: string; total: number; runs: number }>([
      { $group: { _id: '$host', total: { $sum: '$secs' }, runs: { $sum: 1 } } },
      { $sort: { _id: 1 } },
    ]);
    expect(rows).toEqual([
      { _id: 'a', total: 7, runs: 2 },
      { _id: 'b', total: 15, runs: 2 },
      { _id: 'c', total: 1, runs: 1 },
    ]);
    const okOnly = await Run.aggregate<{ _id: string; total: number }>([
      { $match: { ok: true } },
      { $group: { _id: '$host', total: { $sum: '$secs' } } },
      { $sort: { total: -1 } },
    ]);
    expect(okOnly).toEqual([
      { _id: 'b', total: 10 },
      { _id: 'a', total: 3 },
      { _id: 'c', total: 1 },
    ]);
  });

  it('round-trips Long, Int32 and Decimal128 and $inc-s a Long exactly', async () => {
    const big = 2n ** 60n + 7n; // beyond 2^53: a double would lose the low bits
    const Meter = conn.model(
      'NumMeter',
      new mongoose.Schema({
        name: String,
        bytes: mongoose.Schema.Types.BigInt,
        small: mongoose.Schema.Types.Int32,
        price: mongoose.Schema.Types.Decimal128,
      }),
    );
    const m = await Meter.create({ name: 'm1', bytes: big, small: 42, price: mongoose.Types.Decimal128.fromString('19.99') });
    const back = await Meter.findById(m._id);
    expect(back?.bytes).toBe(big);
    expect(back?.small).toBe(42);
    expect(back?.price?.toString()).toBe('19.99');

    // On the raw collection the BSON types are exactly what was stored.
    const raw = await Meter.collection.findOne({ _id: m._id }, { promoteLongs: false, promoteValues: false });
    expect(raw?.bytes).toBeInstanceOf(Long);
    expect((raw?.bytes as Long).toBigInt()).toBe(big);
    expect(raw?.small).toBeInstanceOf(Int32);
    expect(raw?.price).toBeInstanceOf(Decimal128);

    // $inc on a Long field through mongoose, and through the raw collection with a Long.
    await Meter.updateOne({ _id: m._id }, { $inc: { bytes: 3n } });
    expect((await Meter.findById(m._id))?.bytes).toBe(big + 3n);
    await Meter.collection.updateOne({ _id: m._id }, { $inc: { bytes: Long.fromBigInt(10n) } });
    const incd = await Meter.collection.findOne({ _id: m._id }, { promoteLongs: false, promoteValues: false });
    expect(incd?.bytes).toBeInstanceOf(Long);
    expect((incd?.bytes as Long).toBigInt()).toBe(big + 13n);

    // Queries compare Long numerically (Long(10) > Long(9)), and match a Long against a number.
    await Meter.create([
      { name: 'nine', bytes: 9n },
      { name: 'ten', bytes: 10n },
    ]);
    // mongoose casts the 9 to BigInt for this path, so the server compares Long with Long.
    const gt9Filter: Record<string, unknown> = { bytes: { $gt: 9 } }; // (mongoose's types want a bigint here)
    const gt9 = await Meter.find(gt9Filter).sort({ bytes: 1 }).lean();
    expect(gt9.map((d) => d.name)).toEqual(['ten', 'm1']);
    const eq10Filter: Record<string, unknown> = { bytes: 10 };
    expect(await Meter.countDocuments(eq10Filter)).toBe(1);
    // Int32 and Decimal128 filters too.
    expect(await Meter.countDocuments({ small: 42 })).toBe(1);
    expect(await Meter.countDocuments({ price: { $gt: mongoose.Types.Decimal128.fromString('9.5') } })).toBe(1);
    expect(await Meter.countDocuments({ price: { $lt: mongoose.Types.Decimal128.fromString('100') } })).toBe(1);

    // An aggregate that only filters, sorts and pages hands the stored values back untouched:
    // the Long past 2^53 stays an exact Long (the driver does not promote it), Decimal128 stays.
    const page = await Meter.aggregate<{ name: string; bytes: unknown; price: unknown; small: unknown }>([
      { $match: { bytes: { $exists: true } } },
      { $sort: { bytes: -1 } },
      { $skip: 0 },
      { $limit: 2 },
    ]);
    expect(page.map((d) => d.name)).toEqual(['m1', 'ten']);
    expect(page[0]!.bytes).toBeInstanceOf(Long);
    expect((page[0]!.bytes as Long).toBigInt()).toBe(big + 13n);
    expect(page[0]!.price).toBeInstanceOf(Decimal128);
    expect(String(page[0]!.price)).toBe('19.99');
    expect(page[0]!.small).toBe(42);
    expect(page[1]!.bytes).toBe(10); // a Long that fits a double is promoted to a number

    // A pipeline-style update leaves the fields it does not touch exactly as stored.
    await Meter.collection.updateOne({ _id: m._id }, [{ $set: { name: { $concat: ['$name', '-renamed'] } } }]);
    const piped = await Meter.collection.findOne({ _id: m._id }, { promoteLongs: false, promoteValues: false });
    expect(String(piped?.name)).toBe('m1-renamed');
    expect(piped?.bytes).toBeInstanceOf(Long);
    expect((piped?.bytes as Long).toBigInt()).toBe(big + 13n);
    expect(piped?.small).toBeInstanceOf(Int32);
    expect(piped?.price).toBeInstanceOf(Decimal128);
    expect(String(piped?.price)).toBe('19.99');
  });
});
