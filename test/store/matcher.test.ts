/**
 * Unit checks of the embedded store's query, update and projection semantics where they were
 * found to differ from MongoDB 7.0 (beyond what the CRUD conformance cases cover).
 */
import { describe, expect, it } from 'vitest';
import { Decimal128, Double, Int32, Long } from 'bson';
import { compileFilter } from '../../src/store/embedded/matcher.js';
import { compileProjection } from '../../src/store/embedded/sort-project.js';
import { applyUpdate } from '../../src/store/embedded/update.js';

const matches = (filter: Record<string, unknown>, doc: Record<string, unknown>): boolean => compileFilter(filter)(doc);

describe('matcher', () => {
  it('treats NaN as equal to NaN and never less or greater than anything', () => {
    const nan = { a: new Double(Number.NaN) };
    expect(matches({ a: { $lt: new Int32(5) } }, nan)).toBe(false);
    expect(matches({ a: { $gt: new Int32(-5) } }, nan)).toBe(false);
    expect(matches({ a: new Double(Number.NaN) }, nan)).toBe(true);
    expect(matches({ a: { $gte: new Double(Number.NaN) } }, nan)).toBe(true);
    expect(matches({ a: { $lt: new Double(Number.NaN) } }, { a: new Int32(1) })).toBe(false);
    expect(matches({ a: { $lt: new Int32(5) } }, { a: new Int32(1) })).toBe(true);
  });

  it('validates $size and $regex arguments as MongoDB does', () => {
    expect(() => matches({ a: { $size: new Double(1.5) } }, {})).toThrow('$size must be a whole number');
    expect(() => matches({ a: { $size: new Int32(-1) } }, {})).toThrow('$size may not be negative');
    expect(() => matches({ a: { $regex: new Int32(5) } }, {})).toThrow('$regex has to be a string');
    expect(matches({ a: { $size: new Double(2) } }, { a: [1, 2] })).toBe(true);
  });
});

describe('update operators', () => {
  it('refuses to create a field below an array, and ignores removing one', () => {
    const doc = { _id: 1, a: [new Int32(1), new Int32(2)] };
    expect(() => applyUpdate(doc, { $set: { 'a.b': new Int32(1) } })).toThrow(expect.objectContaining({ code: 28 }));
    expect(() => applyUpdate({ _id: 1, a: [{ b: 0 }] }, { $inc: { 'a.b': new Int32(1) } })).toThrow("Cannot create field 'b'");
    expect(applyUpdate(doc, { $unset: { 'a.b': '' } })).toEqual(doc);
    // Numeric path components still address elements.
    expect(applyUpdate(doc, { $set: { 'a.1': new Int32(9) } }).a).toEqual([new Int32(1), new Int32(9)]);
  });

  it('names BSON types in error messages as MongoDB does', () => {
    expect(() => applyUpdate({ _id: 1, a: new Int32(3) }, { $push: { a: 1 } })).toThrow("The field 'a' must be an array but is of type int in document {_id: 1}");
    expect(() => applyUpdate({ _id: 1, a: { b: 1 } }, { $inc: { a: new Int32(1) } })).toThrow("has the field 'a' of non-numeric type object");
  });

  it('validates $pop and $currentDate arguments', () => {
    expect(() => applyUpdate({ _id: 1, a: [1] }, { $pop: { a: new Int32(2) } })).toThrow(expect.objectContaining({ code: 9, message: '$pop expects 1 or -1, found: 2' }));
    expect(() => applyUpdate({ _id: 1 }, { $currentDate: { a: { $type: 'foo' } } })).toThrow(expect.objectContaining({ code: 2 }));
    expect(() => applyUpdate({ _id: 1 }, { $currentDate: { a: new Int32(5) } })).toThrow('a is not valid type for $currentDate');
    expect(applyUpdate({ _id: 1 }, { $currentDate: { a: true } }).a).toBeInstanceOf(Date);
  });

  it('does Decimal128 arithmetic exactly', () => {
    const inc = applyUpdate({ _id: 1, a: Decimal128.fromString('0.1') }, { $inc: { a: Decimal128.fromString('0.2') } });
    expect((inc.a as Decimal128).toString()).toBe('0.3');
    const mul = applyUpdate({ _id: 1, a: Decimal128.fromString('1.5') }, { $mul: { a: new Int32(2) } });
    expect((mul.a as Decimal128).toString()).toBe('3.0');
    // A double operand is converted with 15 significant digits, as MongoDB does.
    const mixed = applyUpdate({ _id: 1, a: Decimal128.fromString('1') }, { $inc: { a: new Double(0.5) } });
    expect((mixed.a as Decimal128).toString()).toBe('1.500000000000000');
    const big = applyUpdate({ _id: 1, a: Decimal128.fromString('9999999999999999999999999999999999') }, { $inc: { a: Long.fromNumber(1) } });
    expect((big.a as Decimal128).toString()).toBe('1.000000000000000000000000000000000E+34');
  });
});

describe('find projections', () => {
  it('returns the element the query matched for a positional projection', () => {
    const project = compileProjection({ 'a.$': 1, b: 1 }, { a: { $gte: new Int32(2) } })!;
    expect(project({ _id: 1, a: [new Int32(1), new Int32(2), new Int32(3)], b: 1, c: 1 })).toEqual({ _id: 1, a: [new Int32(2)], b: 1 });
    const noCondition = compileProjection({ 'a.$': 1 }, {})!;
    expect(() => noCondition({ _id: 1, a: [1] })).toThrow(expect.objectContaining({ code: 51246 }));
  });

  it('keeps _id first and included values untouched next to computed fields', () => {
    const project = compileProjection({ a: 1, s: { $add: ['$n', 1] } })!;
    const out = project({ _id: 1, z: 0, a: Long.fromString('9007199254740993'), n: new Int32(1) });
    expect(Object.keys(out)).toEqual(['_id', 'a', 's']);
    expect(out.a).toEqual(Long.fromString('9007199254740993'));
    expect(out.s).toBe(2);
    const nested = compileProjection({ 'a.b': 1, 'a.c': { $literal: 5 } })!;
    expect(nested({ _id: 1, a: { b: 7, d: 1 } })).toEqual({ _id: 1, a: { b: 7, c: 5 } });
  });
});
