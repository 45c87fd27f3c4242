import type { Batch } from "./writer.ts";

/**
 * Remembers recently written spans (`traceId+spanId`) so a retried export is stored once.
 * Two generations of maps bound memory: when the young one fills, the old one is dropped.
 * Each key points at the batch that carries it, so a retry that arrives while the original is
 * still being written waits for the same commit instead of being acknowledged early.
 */
export class SpanDeduper {
  private young = new Map<string, Batch>();
  private old = new Map<string, Batch>();

  constructor(private readonly capacity: number) {}

  /** The batch already carrying this span, if it is pending or committed. */
  lookup(key: string): Batch | undefined {
    const b = this.young.get(key) ?? this.old.get(key);
    if (b === undefined || b.state === "failed") return undefined;
    return b;
  }

  add(keys: string[], batch: Batch): void {
    for (const k of keys) this.young.set(k, batch);
    if (this.young.size >= this.capacity / 2) {
      this.old = this.young;
      this.young = new Map();
    }
  }

  /** Forgets the spans of a failed batch so that their retry is written. */
  forget(batch: Batch): void {
    for (const keys of batch.keys) {
      for (const k of keys) {
        if (this.young.get(k) === batch) this.young.delete(k);
        if (this.old.get(k) === batch) this.old.delete(k);
      }
    }
  }

  get size(): number {
    return this.young.size + this.old.size;
  }
}
