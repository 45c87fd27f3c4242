import { KeyTable } from "../key-table.ts";
import { writeSpanKey } from "./span-keys.ts";
import type { Part } from "./writer.ts";

/** What a remembered span is: a part still being written, stored, or stored by an insert that failed half-way. */
export type Seen = Part | "stored" | "recovered";

/** Id of keys learned from storage (at start, or after a failed insert): stored, not in flight. */
const STORED_ID = 1;
const RECOVERED_ID = 2;
/** Id of a key given back: reserved for a request whose processors then dropped the span. */
const RELEASED_ID = 3;

/**
 * Remembers recently written spans so a retried export is stored once.
 *
 * A span is keyed by 128 bits (see `writeSpanKey`). Keys live in
 * open-addressing tables of typed arrays, outside the garbage-collected heap, because millions of
 * string keys in a Map made major GCs the collector's largest cost. Two generations bound memory:
 * when the young table is half full it becomes the old one and the previous old one is dropped.
 * Each key records the part that carries it, so a retry arriving while the original is still being
 * written waits for that same commit instead of being acknowledged early.
 */
export class SpanDeduper {
  private young: KeyTable;
  private old: KeyTable;
  /** Parts not yet committed, by id; committed ones are dropped from here. */
  private readonly pending = new Map<number, Part>();
  /** Ids of failed parts whose keys may still sit in a table. */
  private readonly failed = new Set<number>();
  private nextPartId = RELEASED_ID + 1;
  private readonly ids = new WeakMap<Part, number>();

  constructor(capacity: number) {
    this.young = new KeyTable(capacity);
    this.old = new KeyTable(capacity);
  }

  /** The part already carrying this span if it is still being written, else whether it is stored. */
  lookup(traceId: string, spanId: string): Seen | undefined {
    return this.seen(keyOf(traceId, spanId));
  }

  /** `lookup` of key `i` of `keys`. */
  lookupAt(keys: Uint32Array, i: number): Seen | undefined {
    return this.seen(keyAt(keys, i));
  }

  private seen(k: Uint32Array): Seen | undefined {
    const id = this.young.get(k) || this.old.get(k);
    if (id === 0 || id === RELEASED_ID || this.failed.has(id)) return undefined;
    if (id === RECOVERED_ID) return "recovered";
    return this.pending.get(id) ?? "stored";
  }

  /**
   * Remembers spans found in storage: at start (so a retry after a restart is not stored twice) and
   * after a failed insert that left them behind (`recovered`: stored, but their request was refused,
   * so its retry must still count their spend).
   */
  remember(spans: Iterable<{ traceId: string; spanId: string }>, how: "stored" | "recovered"): void {
    const id = how === "stored" ? STORED_ID : RECOVERED_ID;
    for (const s of spans) {
      if (this.young.full) this.rotate();
      this.young.set(keyOf(s.traceId, s.spanId), id);
    }
  }

  add(spans: { traceId: string; spanId: string }[], part: Part): void {
    const id = this.idOf(part);
    for (const s of spans) {
      if (this.young.full) this.rotate();
      const k = keyOf(s.traceId, s.spanId);
      this.young.set(k, id);
    }
  }

  /** Remembers key `i` of `keys` as carried by `part` (reserved before the span is encoded). */
  addAt(keys: Uint32Array, i: number, part: Part): void {
    const id = this.idOf(part);
    if (this.young.full) this.rotate();
    this.young.set(keyAt(keys, i), id);
  }

  /** Gives back a reserved key whose span was then not stored (a processor dropped it). */
  releaseAt(keys: Uint32Array, i: number): void {
    const k = keyAt(keys, i);
    if (this.young.get(k) !== 0) this.young.set(k, RELEASED_ID);
    else if (this.old.get(k) !== 0) this.old.set(k, RELEASED_ID);
  }

  committed(part: Part): void {
    const id = this.ids.get(part);
    if (id !== undefined) this.pending.delete(id);
  }

  /** Forgets the spans of a failed part so that their retry is written. */
  forget(part: Part): void {
    const id = this.ids.get(part);
    if (id === undefined) return;
    this.pending.delete(id);
    this.failed.add(id);
  }

  get size(): number {
    return this.young.count + this.old.count;
  }

  private idOf(part: Part): number {
    let id = this.ids.get(part);
    if (id === undefined) {
      id = this.nextPartId++;
      this.ids.set(part, id);
      if (part.state !== "committed") this.pending.set(id, part);
    }
    return id;
  }

  private rotate(): void {
    const dropped = this.old;
    this.old = this.young;
    this.young = dropped;
    this.young.clear();
    // Failed ids older than every id still in a table can go.
    const oldest = this.old.minId;
    for (const id of this.failed) if (id < oldest) this.failed.delete(id);
  }
}

const scratch = new Uint32Array(4);

function keyOf(traceId: string, spanId: string): Uint32Array {
  writeSpanKey(scratch, 0, traceId, spanId);
  return scratch;
}

/** Key `i` of an array of keys (see `writeSpanKey`), copied into the scratch key. */
function keyAt(keys: Uint32Array, i: number): Uint32Array {
  const o = i * 4;
  scratch[0] = keys[o];
  scratch[1] = keys[o + 1];
  scratch[2] = keys[o + 2];
  scratch[3] = keys[o + 3];
  return scratch;
}
