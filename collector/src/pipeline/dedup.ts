import type { Part } from "./writer.ts";

/** What a remembered span is: a part still being written, stored, or stored by an insert that failed half-way. */
export type Seen = Part | "stored" | "recovered";

/** Id of keys learned from storage (at start, or after a failed insert): stored, not in flight. */
const STORED_ID = 1;
const RECOVERED_ID = 2;

/**
 * Remembers recently written spans so a retried export is stored once.
 *
 * A span is keyed by 128 bits: its 64-bit span id and a 64-bit hash of its whole trace id (span ids
 * are not always random: some tracers number them 1, 2, 3… within a trace). Keys live in
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
  private nextPartId = RECOVERED_ID + 1;
  private readonly ids = new WeakMap<Part, number>();

  constructor(capacity: number) {
    this.young = new KeyTable(capacity);
    this.old = new KeyTable(capacity);
  }

  /** The part already carrying this span if it is still being written, else whether it is stored. */
  lookup(traceId: string, spanId: string): Seen | undefined {
    const k = keyOf(traceId, spanId);
    const id = this.young.get(k) || this.old.get(k);
    if (id === 0 || this.failed.has(id)) return undefined;
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

/** 128 bits from the ids' hex: the span id, and two independent 32-bit mixes of the trace id. */
function keyOf(traceId: string, spanId: string): Uint32Array {
  const t0 = hexWord(traceId, 0);
  const t1 = hexWord(traceId, 8);
  const t2 = hexWord(traceId, 16);
  const t3 = hexWord(traceId, 24);
  scratch[0] = hexWord(spanId, 0);
  scratch[1] = hexWord(spanId, 8);
  scratch[2] = mix(mix(mix(mix(0x9747b28c, t0), t1), t2), t3);
  scratch[3] = mix(mix(mix(mix(0x5bd1e995, t3), t2), t1), t0);
  return scratch;
}

/** Eight lower-case hex digits at `at` as an unsigned 32-bit word (ids are validated hex). */
function hexWord(s: string, at: number): number {
  let v = 0;
  for (let i = at; i < at + 8; i++) {
    const c = s.charCodeAt(i);
    v = (v << 4) | (c <= 57 ? c - 48 : c - 87);
  }
  return v >>> 0;
}

/** One MurmurHash3 round: fold a 32-bit word into a running hash. */
function mix(h: number, k: number): number {
  let x = Math.imul(k, 0xcc9e2d51);
  x = (x << 15) | (x >>> 17);
  x = Math.imul(x, 0x1b873593);
  let y = h ^ x;
  y = (y << 13) | (y >>> 19);
  return (Math.imul(y, 5) + 0xe6546b64) >>> 0;
}

/** Linear-probing hash table of 128-bit keys to part ids, filled to at most half its slots. */
class KeyTable {
  private readonly keys: Uint32Array;
  private readonly values: Uint32Array;
  private readonly mask: number;
  private readonly limit: number;
  count = 0;
  minId = 0;

  constructor(capacity: number) {
    let slots = 1024;
    while (slots < capacity) slots *= 2;
    this.keys = new Uint32Array(slots * 4);
    this.values = new Uint32Array(slots);
    this.mask = slots - 1;
    this.limit = Math.max(1, Math.floor(capacity / 2));
  }

  get full(): boolean {
    return this.count >= this.limit;
  }

  private slot(k: Uint32Array): number {
    const keys = this.keys;
    let i = mix(k[2], k[0] ^ k[1]) & this.mask;
    while (this.values[i] !== 0) {
      const o = i * 4;
      if (keys[o] === k[0] && keys[o + 1] === k[1] && keys[o + 2] === k[2] && keys[o + 3] === k[3]) return i;
      i = (i + 1) & this.mask;
    }
    return i;
  }

  get(k: Uint32Array): number {
    return this.values[this.slot(k)];
  }

  set(k: Uint32Array, id: number): void {
    const i = this.slot(k);
    if (this.values[i] === 0) {
      this.count++;
      this.keys.set(k, i * 4);
      if (this.minId === 0 || id < this.minId) this.minId = id;
    }
    this.values[i] = id;
  }

  clear(): void {
    this.values.fill(0);
    this.count = 0;
    this.minId = 0;
  }
}
