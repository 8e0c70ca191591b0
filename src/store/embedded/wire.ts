/**
 * MongoDB wire protocol framing: the 16-byte header, OP_QUERY (only the legacy handshake
 * uses it), OP_REPLY to answer it, and OP_MSG with kind-0 and kind-1 sections.
 */
import { deserialize, serialize } from 'bson';
import type { Doc } from './bson-values.js';

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_COMPRESSED = 2012;
export const OP_MSG = 2013;

export const MSG_CHECKSUM_PRESENT = 1 << 0;
export const MSG_MORE_TO_COME = 1 << 1;

/** A message that cannot be parsed: the connection it came on is closed. */
export class WireError extends Error {}

export interface Header {
  length: number;
  requestId: number;
  responseTo: number;
  opCode: number;
}

export function readHeader(buf: Buffer): Header {
  return {
    length: buf.readInt32LE(0),
    requestId: buf.readInt32LE(4),
    responseTo: buf.readInt32LE(8),
    opCode: buf.readInt32LE(12),
  };
}

const DESERIALIZE = { promoteValues: false, validation: { utf8: true } } as const;

function readDoc(buf: Buffer, off: number, end: number): { doc: Doc; next: number } {
  if (off + 5 > end) throw new WireError('truncated BSON document');
  const len = buf.readInt32LE(off);
  if (len < 5 || off + len > end) throw new WireError(`BSON document length ${len} does not fit the message`);
  if (buf[off + len - 1] !== 0) throw new WireError('BSON document is not null-terminated');
  try {
    return { doc: deserialize(buf.subarray(off, off + len), DESERIALIZE) as Doc, next: off + len };
  } catch (err) {
    throw new WireError(`invalid BSON: ${(err as Error).message}`);
  }
}

function readCString(buf: Buffer, off: number, end: number): { value: string; next: number } {
  const zero = buf.indexOf(0, off);
  if (zero < 0 || zero >= end) throw new WireError('unterminated string');
  return { value: buf.toString('utf8', off, zero), next: zero + 1 };
}

export interface QueryMessage {
  collection: string;
  query: Doc;
}

export function parseQuery(msg: Buffer): QueryMessage {
  const end = msg.length;
  let off = 16 + 4; // header, flags
  const ns = readCString(msg, off, end);
  off = ns.next + 8; // numberToSkip, numberToReturn
  const { doc } = readDoc(msg, off, end);
  return { collection: ns.value, query: doc };
}

export interface MsgMessage {
  flags: number;
  body: Doc;
}

/** Parses OP_MSG; kind-1 document sequences are folded into the body under their identifier. */
export function parseMsg(msg: Buffer): MsgMessage {
  if (msg.length < 21) throw new WireError('OP_MSG too short');
  const flags = msg.readUInt32LE(16);
  // Bits 0-15 are "required": an unknown one must make us fail, per the specification.
  if ((flags & 0xfffc) !== 0) throw new WireError(`unsupported OP_MSG flag bits 0x${flags.toString(16)}`);
  const end = flags & MSG_CHECKSUM_PRESENT ? msg.length - 4 : msg.length;
  let off = 20;
  let body: Doc | undefined;
  const sequences: Array<[string, Doc[]]> = [];
  while (off < end) {
    const kind = msg[off];
    off += 1;
    if (kind === 0) {
      if (body) throw new WireError('OP_MSG has more than one body section');
      const r = readDoc(msg, off, end);
      body = r.doc;
      off = r.next;
    } else if (kind === 1) {
      if (off + 4 > end) throw new WireError('truncated document sequence');
      const size = msg.readInt32LE(off);
      const seqEnd = off + size;
      if (size < 5 || seqEnd > end) throw new WireError('document sequence size does not fit the message');
      const id = readCString(msg, off + 4, seqEnd);
      let p = id.next;
      const docs: Doc[] = [];
      while (p < seqEnd) {
        const r = readDoc(msg, p, seqEnd);
        docs.push(r.doc);
        p = r.next;
      }
      sequences.push([id.value, docs]);
      off = seqEnd;
    } else {
      throw new WireError(`unknown OP_MSG section kind ${String(kind)}`);
    }
  }
  if (!body) throw new WireError('OP_MSG has no body section');
  for (const [id, docs] of sequences) body[id] = docs;
  return { flags, body };
}

function header(length: number, requestId: number, responseTo: number, opCode: number): Buffer {
  const h = Buffer.allocUnsafe(16);
  h.writeInt32LE(length, 0);
  h.writeInt32LE(requestId, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

export function buildReply(requestId: number, responseTo: number, doc: Doc): Buffer {
  const body = serialize(doc);
  const fixed = Buffer.alloc(20);
  fixed.writeInt32LE(0, 0); // responseFlags
  fixed.writeBigInt64LE(0n, 4); // cursorID
  fixed.writeInt32LE(0, 12); // startingFrom
  fixed.writeInt32LE(1, 16); // numberReturned
  return Buffer.concat([header(16 + 20 + body.length, requestId, responseTo, OP_REPLY), fixed, body]);
}

export function buildMsg(requestId: number, responseTo: number, doc: Doc): Buffer {
  const body = serialize(doc);
  const fixed = Buffer.alloc(5);
  fixed.writeUInt32LE(0, 0); // flagBits
  fixed[4] = 0; // section kind 0
  return Buffer.concat([header(16 + 5 + body.length, requestId, responseTo, OP_MSG), fixed, body]);
}
