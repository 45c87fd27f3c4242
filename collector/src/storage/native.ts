import { RowWriter } from "./rowbinary.ts";
import { splitTopLevel } from "./sql.ts";

/**
 * ClickHouse's Native format, the columnar one its own clients send: a block is the row count and,
 * column after column, its name, type and values. Storage takes a column without parsing rows
 * (about half of RowBinary's insert CPU for span rows, bench/RESULTS.md 2026-12-04). Several blocks
 * one after another are one stream, so each request's block is a part of a batch as it is.
 *
 * Composite columns are laid out as streams: `Array(T)` is one UInt64 running total of elements per
 * row, then T's streams over all elements; `Map(K, V)` is the same with K's and V's streams.
 * Only the types the span table uses are known here: fixed-width numbers, dates and decimals,
 * enums, String, Array and Map (LowCardinality columns are sent as their plain type; storage
 * converts them).
 */

/** A parsed column type. */
export type NativeType =
  | { kind: "fixed"; width: number }
  | { kind: "string" }
  | { kind: "array"; of: NativeType }
  | { kind: "map"; key: NativeType; value: NativeType };

const WIDTHS: Record<string, number> = {
  UInt8: 1,
  Int8: 1,
  Enum8: 1,
  Bool: 1,
  UInt16: 2,
  Int16: 2,
  Enum16: 2,
  UInt32: 4,
  Int32: 4,
  Float32: 4,
  DateTime: 4,
  UInt64: 8,
  Int64: 8,
  Float64: 8,
  DateTime64: 8,
};

/**
 * Parses a ClickHouse type name of the kinds above; throws on any other (LowCardinality too: its
 * values are laid out as a dictionary, and blocks made here send them plain).
 */
export function parseNativeType(name: string): NativeType {
  const open = name.indexOf("(");
  const head = open < 0 ? name : name.slice(0, open);
  const args = open < 0 ? [] : splitTopLevel(name.slice(open + 1, name.lastIndexOf(")")));
  if (head === "String") return { kind: "string" };
  if (head === "Array") return { kind: "array", of: parseNativeType(args[0]) };
  if (head === "Map") return { kind: "map", key: parseNativeType(args[0]), value: parseNativeType(args[1]) };
  if (head === "Decimal") {
    const precision = Number(args[0]);
    if (precision <= 9) return { kind: "fixed", width: 4 };
    if (precision <= 18) return { kind: "fixed", width: 8 };
    throw new Error(`Native: type ${name} is not supported`);
  }
  const width = WIDTHS[head];
  if (width === undefined) throw new Error(`Native: type ${name} is not supported`);
  return { kind: "fixed", width };
}

/** The type as the block names it: LowCardinality(T) as T (its values are sent plain). */
export function plainTypeName(name: string): string {
  return name.replace(/LowCardinality\(([^()]*)\)/g, "$1");
}

/** Streams a column of this type is written as (see the module comment). */
export function streamCount(t: NativeType): number {
  if (t.kind === "array") return 1 + streamCount(t.of);
  if (t.kind === "map") return 1 + streamCount(t.key) + streamCount(t.value);
  return 1;
}

/**
 * One column of a block being built: its streams, and a running total for each offsets stream
 * (indexed like the streams). Encoders append a row's values to the streams.
 */
export class NativeColumnWriter {
  readonly streams: RowWriter[];
  readonly totals: number[];
  constructor(count: number) {
    this.streams = Array.from({ length: count }, () => new RowWriter(4096));
    this.totals = new Array<number>(count).fill(0);
  }
  reset(): void {
    for (const s of this.streams) s.reset();
    this.totals.fill(0);
  }
  /** Adds `n` elements to the running total of offsets stream `i` and writes it. */
  offset(i: number, n: number): void {
    this.totals[i] += n;
    this.streams[i].u64(this.totals[i]);
  }
}

/** Writes a block: `rows` rows of the given columns (name, plain type name, the column's streams). */
export function writeNativeBlock(
  out: RowWriter,
  rows: number,
  columns: readonly { name: string; type: string; data: NativeColumnWriter }[],
): void {
  out.varint(columns.length);
  out.varint(rows);
  for (const c of columns) {
    out.string(c.name);
    out.string(c.type);
    for (const s of c.data.streams) out.raw(s.bytes());
  }
}

/** Reads a block's structure without its values. */
class BlockReader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start = 0,
  ) {
    this.pos = start;
  }
  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error("Native: block ends early");
      const b = this.buf[this.pos++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  }
  string(): string {
    const n = this.varint();
    const s = this.buf.toString("utf8", this.pos, this.pos + n);
    this.skip(n);
    return s;
  }
  skip(n: number): void {
    this.pos += n;
    if (this.pos > this.buf.length) throw new Error("Native: block ends early");
  }
  /** `n` UInt64 running totals, as element counts per row. */
  counts(n: number): number[] {
    const out = new Array<number>(n);
    let prev = 0;
    for (let i = 0; i < n; i++) {
      this.skip(8);
      const at = this.pos - 8;
      const total = this.buf.readUInt32LE(at) + this.buf.readUInt32LE(at + 4) * 0x1_0000_0000;
      out[i] = total - prev;
      prev = total;
    }
    return out;
  }
}

/** Element keep-flags of a composite column from its rows' flags and element counts. */
function expand(keep: Uint8Array, counts: readonly number[]): Uint8Array {
  let total = 0;
  for (const c of counts) total += c;
  const out = new Uint8Array(total);
  let at = 0;
  for (let i = 0; i < counts.length; i++) {
    if (keep[i] === 1) out.fill(1, at, at + counts[i]);
    at += counts[i];
  }
  return out;
}

/** Copies the kept values of a column of `n` values from `r` to `out` (or skips them all, with no `out`). */
function filterColumn(r: BlockReader, t: NativeType, n: number, keep: Uint8Array, out: RowWriter | null): void {
  switch (t.kind) {
    case "fixed":
      for (let i = 0; i < n; i++) {
        if (out !== null && keep[i] === 1) out.raw(r.buf.subarray(r.pos, r.pos + t.width));
        r.skip(t.width);
      }
      return;
    case "string":
      for (let i = 0; i < n; i++) {
        const start = r.pos;
        r.skip(r.varint());
        if (out !== null && keep[i] === 1) out.raw(r.buf.subarray(start, r.pos));
      }
      return;
    default: {
      const counts = r.counts(n);
      if (out !== null) {
        let total = 0;
        for (let i = 0; i < n; i++)
          if (keep[i] === 1) {
            total += counts[i];
            out.u64(total);
          }
      }
      const inner = expand(keep, counts);
      if (t.kind === "array") filterColumn(r, t.of, inner.length, inner, out);
      else {
        filterColumn(r, t.key, inner.length, inner, out);
        filterColumn(r, t.value, inner.length, inner, out);
      }
    }
  }
}

/** Reads past a column of `n` values. */
const skipColumn = (r: BlockReader, t: NativeType, n: number) => filterColumn(r, t, n, new Uint8Array(0), null);

/** The blocks of a Native stream, one after another. */
function* blocks(buf: Buffer): Generator<{ r: BlockReader; columns: number; rows: number }> {
  const r = new BlockReader(buf);
  while (r.pos < buf.length) {
    const columns = r.varint();
    const rows = r.varint();
    yield { r, columns, rows };
  }
}

/** Rows of a Native stream (every block): a filter keeps row `i` where `keep[i]` is 1. */
export function filterNative(buf: Buffer, keep: Uint8Array): Buffer {
  const out = new RowWriter(buf.length);
  let first = 0;
  for (const { r, columns, rows } of blocks(buf)) {
    const mine = keep.subarray(first, first + rows);
    first += rows;
    let kept = 0;
    for (const k of mine) kept += k;
    if (kept > 0) {
      out.varint(columns);
      out.varint(kept);
    }
    for (let c = 0; c < columns; c++) {
      const name = r.string();
      const type = r.string();
      if (kept > 0) {
        out.string(name);
        out.string(type);
      }
      filterColumn(r, parseNativeType(type), rows, mine, kept > 0 ? out : null);
    }
  }
  return Buffer.from(out.bytes());
}

/** The values of String columns `names` of a Native stream, row by row over every block. */
export function nativeStrings(buf: Buffer, names: readonly string[]): string[][] {
  const out: string[][] = [];
  for (const { r, columns, rows } of blocks(buf)) {
    const start = out.length;
    for (let i = 0; i < rows; i++) out.push(new Array<string>(names.length));
    for (let c = 0; c < columns; c++) {
      const name = r.string();
      const type = parseNativeType(r.string());
      const wanted = names.indexOf(name);
      if (wanted >= 0 && type.kind === "string") for (let i = 0; i < rows; i++) out[start + i][wanted] = r.string();
      else skipColumn(r, type, rows);
    }
  }
  return out;
}

/** The smallest and largest value of an 8-byte integer column (DateTime64, Int64) over every block, or null without rows. */
export function nativeInt64Range(buf: Buffer, name: string): { min: bigint; max: bigint } | null {
  let range: { min: bigint; max: bigint } | null = null;
  for (const { r, columns, rows } of blocks(buf)) {
    for (let c = 0; c < columns; c++) {
      const column = r.string();
      const type = parseNativeType(r.string());
      if (column === name && type.kind === "fixed" && type.width === 8) {
        for (let i = 0; i < rows; i++) {
          const v = r.buf.readBigInt64LE(r.pos);
          r.skip(8);
          if (range === null) range = { min: v, max: v };
          else if (v < range.min) range.min = v;
          else if (v > range.max) range.max = v;
        }
      } else skipColumn(r, type, rows);
    }
  }
  return range;
}

/** The blocks of a Native stream, each as a view of `buf` (a batch's blocks are its requests' parts). */
export function nativeBlocks(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (const { r, columns, rows } of blocks(buf)) {
    for (let c = 0; c < columns; c++) {
      r.string();
      skipColumn(r, parseNativeType(r.string()), rows);
    }
    out.push(buf.subarray(start, r.pos));
    start = r.pos;
  }
  return out;
}
