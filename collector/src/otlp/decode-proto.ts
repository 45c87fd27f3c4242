import { endianness } from "node:os";
import { ATTR_TYPE, type Attrs, type AttrTypes, type AttrValue } from "@cognive/semconv";
import protobuf from "protobufjs/minimal.js";
import {
  type DecodedEvent,
  type DecodedLink,
  type DecodedResourceSpans,
  type DecodedScopeSpans,
  type DecodedSpan,
  type DecodedTraces,
  DecodeError,
} from "./model.ts";

export type Reader = protobuf.Reader;
/** Node's Buffer has native utf8Slice and hexSlice that skip toString's argument checks. */
type NativeBuffer = Buffer & {
  utf8Slice(start: number, end: number): string;
  hexSlice(start: number, end: number): string;
};

/**
 * Decodes an OTLP ExportTraceServiceRequest straight into Cognive's span model.
 * Walking the wire format with protobufjs's Reader (instead of materializing generated message
 * objects and converting them) keeps one allocation per value and makes ids hex in one step.
 */
export function decodeTracesProto(body: Uint8Array): DecodedTraces {
  return { resourceSpans: decodeRequest(body, readResourceSpans) };
}

/**
 * The repeated field 1 of an Export<Signal>ServiceRequest, each read by `read`; anything malformed
 * is a DecodeError.
 */
export function decodeRequest<T>(body: Uint8Array, read: (r: Reader, end: number) => T): T[] {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const r = protobuf.Reader.create(buf);
  const out: T[] = [];
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag >>> 3 === 1) {
        expect(tag, 2);
        out.push(read(r, sub(r)));
      } else skip(r, tag);
    }
  } catch (err) {
    if (err instanceof DecodeError) throw err;
    throw new DecodeError(`invalid protobuf: ${(err as Error).message}`);
  }
  return out;
}

/** Reads a length prefix and returns the end offset of the sub-message. */
export function sub(r: Reader): number {
  const len = r.uint32();
  const end = r.pos + len;
  if (end > r.len) throw new DecodeError(`invalid protobuf: length ${len} past end of buffer at ${r.pos}`);
  return end;
}

export function skip(r: Reader, tag: number): void {
  r.skipType(tag & 7, 0, tag >>> 3);
}

/** Checks the wire type of a known field so a type confusion is an error, not garbage. */
export function expect(tag: number, wireType: number): void {
  if ((tag & 7) !== wireType) {
    throw new DecodeError(`invalid protobuf: field ${tag >>> 3} has wire type ${tag & 7}, expected ${wireType}`);
  }
}

export function readBytesHex(r: Reader): string {
  const end = sub(r);
  const start = r.pos;
  r.pos = end;
  // One flat string in one native call (ids are compared and parsed again downstream).
  return start === end ? "" : (r.buf as NativeBuffer).hexSlice(start, end);
}

export function readString(r: Reader): string {
  const end = sub(r);
  const start = r.pos;
  r.pos = end;
  return start === end ? "" : (r.buf as NativeBuffer).utf8Slice(start, end);
}

/** Strings decoded lately (of up to `SHARED_MAX` bytes), by a hash of their bytes, with those bytes. */
const SHARED_SLOTS = 4096;
const SHARED_MAX = 96;
const sharedStrings: string[] = new Array<string>(SHARED_SLOTS).fill("");
const sharedLengths = new Uint8Array(SHARED_SLOTS);
const sharedBytes = new Uint8Array(SHARED_SLOTS * SHARED_MAX);

/**
 * A string that repeats from span to span: an attribute key, a span or scope name, a short value
 * (models, operations, hosts). One met lately is returned as the same string (for a key, one V8
 * has already hashed and internalized as a property name) instead of a new one to decode, hash,
 * look up again and collect. The bytes are compared, not the string's characters: V8 may have
 * replaced a cached key by a reference to its internalized copy, slower to read.
 */
export function readShared(r: Reader): string {
  const end = sub(r);
  const start = r.pos;
  r.pos = end;
  const len = end - start;
  if (len === 0 || len > SHARED_MAX) return len === 0 ? "" : (r.buf as NativeBuffer).utf8Slice(start, end);
  const buf = r.buf;
  // The slot from the length and eight bytes spread over the string; the comparison below decides.
  const step = len >>> 3;
  let h = len;
  for (let i = end - 1, k = 0; k < 8; k++, i -= step) h = Math.imul(h ^ buf[i], 0x01000193);
  const slot = (h ^ (h >>> 15)) & (SHARED_SLOTS - 1);
  const at = slot * SHARED_MAX;
  if (sharedLengths[slot] === len) {
    let i = 0;
    while (i < len && sharedBytes[at + i] === buf[start + i]) i++;
    if (i === len) return sharedStrings[slot];
  }
  const value = (r.buf as NativeBuffer).utf8Slice(start, end);
  sharedStrings[slot] = value;
  sharedLengths[slot] = len;
  for (let i = 0; i < len; i++) sharedBytes[at + i] = buf[start + i];
  return value;
}

/** A fixed64's bytes, read as one BigInt (shifting and or-ing two halves made four). */
const FIXED64 = new BigUint64Array(1);
const FIXED64_BYTES = new Uint8Array(FIXED64.buffer);
const LITTLE_ENDIAN = endianness() === "LE";

export function readFixed64(r: Reader): bigint {
  const p = r.pos;
  if (p + 8 > r.len) throw new DecodeError(`invalid protobuf: fixed64 past end of buffer at ${p}`);
  if (!LITTLE_ENDIAN) {
    const lo = r.fixed32();
    const hi = r.fixed32();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  const buf = r.buf;
  for (let i = 0; i < 8; i++) FIXED64_BYTES[i] = buf[p + i];
  r.pos = p + 8;
  return FIXED64[0];
}

function readResourceSpans(r: Reader, end: number): DecodedResourceSpans {
  const resource: Attrs = {};
  const resourceTypes: AttrTypes = {};
  const scopeSpans: DecodedScopeSpans[] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1: {
        expect(tag, 2);
        readResource(r, sub(r), resource, resourceTypes);
        break;
      }
      case 2:
        expect(tag, 2);
        scopeSpans.push(readScopeSpans(r, sub(r)));
        break;
      default:
        skip(r, tag);
    }
  }
  return { resource, resourceTypes, scopeSpans };
}

export function readResource(r: Reader, end: number, attrs: Attrs = {}, types?: AttrTypes): Attrs {
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | 2)) readKeyValue(r, sub(r), attrs, 0, types);
    else skip(r, tag);
  }
  return attrs;
}

/**
 * Reads a `Resource<Signal>s` or `Scope<Signal>s` message, which share one shape: field 1 the resource
 * or scope (`head`), field 2 the repeated items (`item`), field 3 the schema url, returned.
 */
export function readGroup(r: Reader, end: number, head: (end: number) => void, item: (end: number) => void): string {
  let schemaUrl = "";
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === 1 || field === 2 || field === 3) {
      expect(tag, 2);
      if (field === 1) head(sub(r));
      else if (field === 2) item(sub(r));
      else schemaUrl = readString(r);
    } else skip(r, tag);
  }
  return schemaUrl;
}

/** An InstrumentationScope's name and version; its attributes too when `attributes` is given. */
export function readScope(r: Reader, end: number, attributes?: Attrs): { name: string; version: string } {
  const scope = { name: "", version: "" };
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((1 << 3) | 2)) scope.name = readShared(r);
    else if (t === ((2 << 3) | 2)) scope.version = readShared(r);
    else if (attributes && t === ((3 << 3) | 2)) readKeyValue(r, sub(r), attributes, 0);
    else skip(r, t);
  }
  return scope;
}

function readScopeSpans(r: Reader, end: number): DecodedScopeSpans {
  let scopeName = "";
  let scopeVersion = "";
  const spans: DecodedSpan[] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1: {
        expect(tag, 2);
        ({ name: scopeName, version: scopeVersion } = readScope(r, sub(r)));
        break;
      }
      case 2:
        expect(tag, 2);
        spans.push(readSpan(r, sub(r)));
        break;
      default:
        skip(r, tag);
    }
  }
  return { scopeName, scopeVersion, spans };
}

/** Most spans have no events or links: they share these (frozen) until their first one. */
const NO_EVENTS = Object.freeze([]) as unknown as DecodedEvent[];
const NO_LINKS = Object.freeze([]) as unknown as DecodedLink[];

function readSpan(r: Reader, end: number): DecodedSpan {
  const span: DecodedSpan = {
    traceId: "",
    spanId: "",
    parentSpanId: "",
    traceState: "",
    name: "",
    kind: 0,
    startNs: 0n,
    endNs: 0n,
    attributes: {},
    attributeTypes: {},
    events: NO_EVENTS,
    links: NO_LINKS,
    statusCode: 0,
    statusMessage: "",
  };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        expect(tag, 2);
        span.traceId = readBytesHex(r);
        break;
      case 2:
        expect(tag, 2);
        span.spanId = readBytesHex(r);
        break;
      case 3:
        expect(tag, 2);
        span.traceState = readString(r);
        break;
      case 4:
        expect(tag, 2);
        span.parentSpanId = readBytesHex(r);
        break;
      case 5:
        expect(tag, 2);
        span.name = readShared(r);
        break;
      case 6:
        expect(tag, 0);
        span.kind = r.uint32();
        break;
      case 7:
        expect(tag, 1);
        span.startNs = readFixed64(r);
        break;
      case 8:
        expect(tag, 1);
        span.endNs = readFixed64(r);
        break;
      case 9:
        expect(tag, 2);
        readKeyValue(r, sub(r), span.attributes, 0, span.attributeTypes);
        break;
      case 11:
        expect(tag, 2);
        if (span.events === NO_EVENTS) span.events = [];
        span.events.push(readEvent(r, sub(r)));
        break;
      case 13:
        expect(tag, 2);
        if (span.links === NO_LINKS) span.links = [];
        span.links.push(readLink(r, sub(r)));
        break;
      case 15: {
        expect(tag, 2);
        const statusEnd = sub(r);
        while (r.pos < statusEnd) {
          const t = r.uint32();
          if (t === ((2 << 3) | 2)) span.statusMessage = readString(r);
          else if (t === ((3 << 3) | 0)) span.statusCode = r.uint32();
          else skip(r, t);
        }
        break;
      }
      default:
        skip(r, tag);
    }
  }
  if (r.pos !== end) throw new DecodeError("invalid protobuf: span overruns its length");
  return span;
}

function readEvent(r: Reader, end: number): DecodedEvent {
  const ev: DecodedEvent = { timeNs: 0n, name: "", attributes: {}, attributeTypes: {} };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        expect(tag, 1);
        ev.timeNs = readFixed64(r);
        break;
      case 2:
        expect(tag, 2);
        ev.name = readShared(r);
        break;
      case 3:
        expect(tag, 2);
        readKeyValue(r, sub(r), ev.attributes, 0, ev.attributeTypes);
        break;
      default:
        skip(r, tag);
    }
  }
  return ev;
}

function readLink(r: Reader, end: number): DecodedLink {
  const link: DecodedLink = { traceId: "", spanId: "", traceState: "", attributes: {}, attributeTypes: {} };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        expect(tag, 2);
        link.traceId = readBytesHex(r);
        break;
      case 2:
        expect(tag, 2);
        link.spanId = readBytesHex(r);
        break;
      case 3:
        expect(tag, 2);
        link.traceState = readString(r);
        break;
      case 4:
        expect(tag, 2);
        readKeyValue(r, sub(r), link.attributes, 0, link.attributeTypes);
        break;
      default:
        skip(r, tag);
    }
  }
  return link;
}

/** Deepest AnyValue nesting accepted (arrays and kvlists). */
export const MAX_DEPTH = 16;

/** The type of the AnyValue readAnyValue read last (its outermost value once it returns); 0 when empty. */
let lastType = 0;

export function readKeyValue(r: Reader, end: number, into: Attrs, depth: number, types?: AttrTypes): void {
  let key = "";
  let value: AttrValue = null;
  let type = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | 2)) key = readShared(r);
    else if (tag === ((2 << 3) | 2)) {
      value = readAnyValue(r, sub(r), depth + 1);
      type = lastType;
    } else skip(r, tag);
  }
  if (key === "") return;
  into[key] = value;
  if (types === undefined) return;
  if (type > ATTR_TYPE.string) types[key] = type;
  else if (types[key] !== undefined) delete types[key]; // a repeated key: the last one wins, type included
}

export function readAnyValue(r: Reader, end: number, depth: number): AttrValue {
  if (depth > MAX_DEPTH) throw new DecodeError("invalid protobuf: attribute values nested too deeply");
  let value: AttrValue = null;
  let type = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case (1 << 3) | 2:
        value = readShared(r);
        break;
      case (2 << 3) | 0:
        value = r.bool();
        break;
      case (3 << 3) | 0:
        value = readInt64(r);
        break;
      case (4 << 3) | 1:
        value = r.double();
        break;
      case (5 << 3) | 2: {
        const arrEnd = sub(r);
        const arr: AttrValue[] = [];
        while (r.pos < arrEnd) {
          const t = r.uint32();
          if (t === ((1 << 3) | 2)) arr.push(readAnyValue(r, sub(r), depth + 1));
          else skip(r, t);
        }
        value = arr;
        break;
      }
      case (6 << 3) | 2: {
        const kvEnd = sub(r);
        const obj: Attrs = {};
        while (r.pos < kvEnd) {
          const t = r.uint32();
          if (t === ((1 << 3) | 2)) readKeyValue(r, sub(r), obj, depth + 1);
          else skip(r, t);
        }
        value = obj;
        break;
      }
      case (7 << 3) | 2:
        value = Buffer.from(r.bytes()).toString("base64");
        break;
      default:
        skip(r, tag);
        continue;
    }
    type = tag >>> 3; // the field numbers are the ATTR_TYPE codes
  }
  lastType = type;
  return value;
}

/**
 * int64 as a number when it is exactly representable, else its decimal string. A varint of up to
 * seven bytes (0 … 2^49 − 1: token counts, sizes, ports) is read here without protobufjs's LongBits
 * and Long objects, two allocations a value; longer ones, negatives included, take its path.
 */
export function readInt64(r: Reader): number | string {
  const buf = r.buf;
  const start = r.pos;
  const end = Math.min(start + 7, r.len);
  let value = 0;
  let scale = 1;
  for (let p = start; p < end; p++) {
    const b = buf[p];
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      r.pos = p + 1;
      return value;
    }
    scale *= 128;
  }
  const v = r.int64() as unknown as { toNumber?: () => number; toString(): string } | number;
  if (typeof v === "number") return v;
  const n = v.toNumber ? v.toNumber() : Number(v.toString());
  return Number.isSafeInteger(n) ? n : v.toString();
}
