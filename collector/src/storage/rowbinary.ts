import { endianness } from "node:os";
import type { Attrs, AttrTypes } from "@cognive/semconv";
import { attrToString, eachAttrType } from "./tsv.ts";

/** One 64-bit value's bytes, in the machine's order. */
const WORD = new BigInt64Array(1);
const WORD_BYTES = new Uint8Array(WORD.buffer);
const LITTLE_ENDIAN = endianness() === "LE";

/**
 * ClickHouse RowBinary encoding: storage reads it without parsing text (no escapes, no number or
 * date parsing), about half the CPU of TSV per span row. One growable buffer, reused between
 * requests: callers copy `bytes()` out before the next `reset()`.
 */
export class RowWriter {
  buf: Buffer;
  pos = 0;
  constructor(initial = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }
  reset(): void {
    this.pos = 0;
  }
  /** The bytes written since the last reset (a view, valid until the next write). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v;
  }
  /** A LEB128 length, as RowBinary prefixes strings, arrays and maps. */
  varint(v: number): void {
    this.room(10);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
  /** A non-negative integer below 2^64 given as a number (token counts). */
  u64(v: number): void {
    this.room(8);
    this.word32(v >>> 0, Math.floor(v / 0x1_0000_0000));
  }
  /** Wraps modulo 2^64 like a C cast: range checks belong to validation, not the encoder. */
  u64n(v: bigint): void {
    this.i64n(v);
  }
  /** A signed safe integer as Int64 (`Decimal(18, 9)`: nano-dollars), in two halves: no BigInt per value. */
  i64(v: number): void {
    this.room(8);
    const high = Math.floor(v / 0x1_0000_0000);
    this.word32(v - high * 0x1_0000_0000, high);
  }
  /** DateTime64(9): signed nanoseconds since the epoch (wrapped modulo 2^64, as `u64n`). */
  i64n(v: bigint): void {
    this.room(8);
    if (!LITTLE_ENDIAN) {
      this.pos = this.buf.writeBigInt64LE(BigInt.asIntN(64, v), this.pos);
      return;
    }
    // Through a typed array: Buffer's BigInt writers shift and mask, allocating BigInts each value.
    WORD[0] = v;
    const buf = this.buf;
    const p = this.pos;
    for (let i = 0; i < 8; i++) buf[p + i] = WORD_BYTES[i];
    this.pos = p + 8;
  }
  /** Two little-endian 32-bit halves (each taken modulo 2^32), with room already made. */
  private word32(low: number, high: number): void {
    const buf = this.buf;
    const p = this.pos;
    buf[p] = low;
    buf[p + 1] = low >>> 8;
    buf[p + 2] = low >>> 16;
    buf[p + 3] = low >>> 24;
    buf[p + 4] = high;
    buf[p + 5] = high >>> 8;
    buf[p + 6] = high >>> 16;
    buf[p + 7] = high >>> 24;
    this.pos = p + 8;
  }
  f64(v: number): void {
    this.room(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
  raw(b: Buffer): void {
    this.room(b.length);
    this.pos += b.copy(this.buf, this.pos);
  }
  string(s: string): void {
    // A short string's UTF-8 length fits one varint byte: write it after, without measuring first.
    if (s.length <= 42) {
      this.room(1 + s.length * 3);
      const buf = this.buf;
      const start = this.pos;
      // ASCII (ids, names, most attributes) copied in JS: a third of the time of a call into
      // Buffer.write for strings this short; anything else is encoded by Buffer.write.
      let p = start + 1;
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          p = start + 1 + buf.write(s, start + 1, "utf8");
          break;
        }
        buf[p++] = c;
      }
      buf[start] = p - start - 1;
      this.pos = p;
      return;
    }
    const n = Buffer.byteLength(s, "utf8");
    this.varint(n);
    this.room(n);
    this.pos += this.buf.write(s, this.pos, n, "utf8");
  }
}

/** Map(String, String) of attribute values, stored as the ClickHouse exporter does. */
export function binaryMap(w: RowWriter, attrs: Attrs): void {
  let n = 0;
  for (const _ in attrs) n++;
  w.varint(n);
  for (const k in attrs) {
    w.string(k);
    w.string(attrToString(attrs[k]));
  }
}

/** The type map beside an attribute map (see `eachAttrType`): OTLP type codes of non-string attributes. */
export function binaryTypes(w: RowWriter, attrs: Attrs, types: AttrTypes | undefined): void {
  w.varint(eachAttrType(attrs, types, () => {}));
  eachAttrType(attrs, types, (k, t) => {
    w.string(k);
    w.u8(t);
  });
}
