import type { GovernedSpan } from "../governance/hook.ts";
import type { DecodedTraces } from "../otlp/model.ts";
import { RowWriter } from "../storage/rowbinary.ts";
import { encodeSpanBinary, encodeSpanNative, encodeSpanRow } from "../storage/span-table.ts";
import { normalizeTraces, runProcessors, type SpanLimits } from "./normalize.ts";
import type { IngestIdentity, NormalizedSpan, SpanProcessor } from "./span.ts";
import { writeSpanKeys } from "./span-keys.ts";

/**
 * The span stage: the per-span work of ingest that needs no shared state, run on whichever thread
 * decoded the request (a stage worker, or the main thread). It runs in two steps around the
 * pipeline's de-duplication, which lives on the main thread:
 *   1. `normalize`: validate, extract facts, and key each span (`NormalizedRequest`);
 *   2. the pipeline judges each key (new, duplicate, or stored by a failed insert);
 *   3. `process`: the processors on the spans judged worth it, then the row encoding (`ProcessedRequest`).
 * So a retried span is dropped before any processor runs, as when everything ran on one thread.
 */

/**
 * How rows are encoded (COGNIVE_INSERT_FORMAT): storage reads RowBinary with less CPU than TSV, and
 * Native (one columnar block a request) with less than RowBinary.
 */
export type SpanRowFormat = "tsv" | "rowbinary" | "native";

/** What the pipeline learns of a request before any span of it is processed. */
export interface NormalizedRequest {
  /** Spans in the request as decoded, valid or not (what a key's span rate limit counts). */
  items: number;
  /** Valid spans: `keys` holds one key each, in request order. */
  valid: number;
  rejected: number;
  /** First reasons for rejected spans, for partial_success. */
  errors: string[];
  usageInvalid: number;
  /** UTC day numbers the valid spans fall on, and their earliest and latest start (Unix ns). */
  days: number[];
  minNs: bigint;
  maxNs: bigint;
  /** Four 32-bit words a valid span (`writeSpanKey`). */
  keys: Uint32Array;
  /** 1 where a span repeats an earlier span of the same request. */
  repeats: Uint8Array;
}

/** The pipeline's judgement of each valid span, from its key. */
export const VERDICT_NEW = 0;
/** Already stored or in flight (or repeated in the request): not processed, stored nor governed. */
export const VERDICT_DUPLICATE = 1;
/** Left stored by an insert that failed: processed and governed (its spend counts), not stored again. */
export const VERDICT_RECOVERED = 2;

/** What processing and encoding a request's judged spans made. */
export interface ProcessedRequest {
  /** The encoded rows of the stored spans, in request order (Native: one block of them all). */
  rows: Uint8Array;
  /** RowBinary only (rows have no line ends): where each row ends in `rows`. */
  rowEnds: Int32Array | null;
  /** 1 for each valid span whose row is in `rows`. */
  stored: Uint8Array;
  /** Spans that can spend or call a tool, for governance (none when nobody governs). */
  governed: GovernedColumns;
  /** New spans a processor dropped: acknowledged, not stored, not governed. */
  dropped: number;
  /** Stored model calls without a price. */
  unpriced: number;
}

export interface StageConfig {
  processors: readonly SpanProcessor[];
  limits: SpanLimits;
  format: SpanRowFormat;
  /** Whether governed spans are collected (only when something governs). */
  govern: boolean;
}

/** One encoding buffer a thread, reused: `process` hands out a view valid until its next call. */
const scratch = new RowWriter(1024 * 1024);

export class SpanStage {
  constructor(readonly config: StageConfig) {}

  /** Step 1: validates and keys the request's spans; the spans are kept by the caller for step 3. */
  normalize(req: DecodedTraces, nowNs: bigint): { request: NormalizedRequest; spans: NormalizedSpan[] } {
    const spans: NormalizedSpan[] = [];
    const n = normalizeTraces(req, nowNs, this.config.limits, (span) => {
      spans.push(span);
    });
    const keys = new Uint32Array(spans.length * 4);
    const repeats = new Uint8Array(spans.length);
    writeSpanKeys(keys, spans);
    markRepeats(spans, keys, repeats);
    return {
      request: {
        items: n.valid + n.rejected,
        valid: n.valid,
        rejected: n.rejected,
        errors: n.errors,
        usageInvalid: n.usageInvalid,
        days: [...n.days],
        minNs: n.minNs,
        maxNs: n.maxNs,
        keys,
        repeats,
      },
      spans,
    };
  }

  /** Step 3: runs the processors on the spans judged new or recovered, and encodes the new ones. */
  process(spans: readonly NormalizedSpan[], verdicts: Uint8Array, identity: IngestIdentity): ProcessedRequest {
    const { processors, format, govern } = this.config;
    const request = { identity };
    const binary = format === "rowbinary";
    const native = format === "native";
    /** Native: the spans to store, encoded together once all are known. */
    const block: NormalizedSpan[] = [];
    const stored = new Uint8Array(spans.length);
    /** Made at the first span to govern: most requests of plain services have none. */
    let governed: GovernedWriter | null = null;
    const ends: number[] = [];
    let chunk = "";
    let dropped = 0;
    let unpriced = 0;
    if (binary || native) scratch.reset();
    for (let i = 0; i < spans.length; i++) {
      const verdict = verdicts[i];
      if (verdict === VERDICT_DUPLICATE) continue;
      const span = spans[i];
      if (!runProcessors(processors, span, request)) {
        if (verdict === VERDICT_NEW) dropped++;
        continue;
      }
      if (verdict === VERDICT_NEW) {
        if (span.usageRole === "model_call" && span.cost === null && span.usageInvalid === null) unpriced++;
        if (native) block.push(span);
        else if (binary) {
          encodeSpanBinary(scratch, span);
          ends.push(scratch.pos);
        } else chunk += encodeSpanRow(span);
        stored[i] = 1;
      }
      if (govern && (span.usageRole === "model_call" || span.toolName !== null)) {
        governed ??= new GovernedWriter(spans.length);
        governed.add(span);
      }
    }
    if (block.length > 0) encodeSpanNative(scratch, block);
    return {
      rows: binary || native ? scratch.bytes() : Buffer.from(chunk, "utf8"),
      rowEnds: binary ? Int32Array.from(ends) : null,
      stored,
      governed: governed === null ? NONE_GOVERNED : governed.columns(),
      dropped,
      unpriced,
    };
  }
}

/**
 * Sets `repeats[i]` where span i has the ids of an earlier span of the request. Spans are found by
 * their keys in an open-addressed table (no string a span is built or hashed), and a key that matches
 * is confirmed on the ids themselves.
 */
export function markRepeats(spans: readonly NormalizedSpan[], keys: Uint32Array, repeats: Uint8Array): void {
  const n = spans.length;
  if (n < 2) return;
  const bits = 32 - Math.clz32(n * 2 - 1);
  const mask = (1 << bits) - 1;
  const slots = new Int32Array(mask + 1).fill(-1);
  for (let i = 0; i < n; i++) {
    const o = i * 4;
    // The span id's two words (some tracers number spans 1, 2, 3…) and the trace id's hash, mixed.
    let h = Math.imul(keys[o] ^ keys[o + 1] ^ keys[o + 2], 0x9e3779b1) >>> (32 - bits);
    for (;;) {
      const j = slots[h];
      if (j < 0) {
        slots[h] = i;
        break;
      }
      const p = j * 4;
      if (
        keys[p] === keys[o] &&
        keys[p + 1] === keys[o + 1] &&
        keys[p + 2] === keys[o + 2] &&
        keys[p + 3] === keys[o + 3] &&
        spans[j].spanId === spans[i].spanId &&
        spans[j].traceId === spans[i].traceId
      ) {
        repeats[i] = 1;
        break;
      }
      h = (h + 1) & mask;
    }
  }
}

/**
 * What governance needs of a request's spans that can spend or call a tool, as columns: a stage
 * worker posts them to the main thread in a few arrays, where a structured clone of one object a
 * span would repeat every property name of every span. `governedSpans` makes the objects again.
 */
export interface GovernedColumns {
  count: number;
  /** Each span's trace id and span id (32 and 16 lower-case hex digits), one after another. */
  ids: string;
  timeMs: Float64Array;
  /** Integer nano-dollars (0 when unpriced). */
  costNanos: Float64Array;
  /** 1 for a model call. */
  modelCall: Uint8Array;
  /** Five a span, indexes into `names` (-1: none): agent, team, request model, response model, tool. */
  refs: Int32Array;
  names: string[];
}

const ID_CHARS = 48;
const REFS = 5;

const NONE_GOVERNED: GovernedColumns = {
  count: 0,
  ids: "",
  timeMs: new Float64Array(0),
  costNanos: new Float64Array(0),
  modelCall: new Uint8Array(0),
  refs: new Int32Array(0),
  names: [],
};

/**
 * Collects one request's governed spans (one at least) as `GovernedColumns`; `capacity`: the most it
 * will be given. A request with none posts `NONE_GOVERNED`: an empty view of these arrays would be
 * posted with its whole buffer.
 */
class GovernedWriter {
  private count = 0;
  private readonly ids: string[] = [];
  private readonly timeMs: Float64Array;
  private readonly costNanos: Float64Array;
  private readonly modelCall: Uint8Array;
  private readonly refs: Int32Array;
  private readonly names: string[] = [];
  private readonly index = new Map<string, number>();

  constructor(capacity: number) {
    this.timeMs = new Float64Array(capacity);
    this.costNanos = new Float64Array(capacity);
    this.modelCall = new Uint8Array(capacity);
    this.refs = new Int32Array(capacity * REFS);
  }

  add(s: NormalizedSpan): void {
    const i = this.count++;
    this.ids.push(s.traceId, s.spanId);
    this.timeMs[i] = Number(s.startNs / 1_000_000n);
    this.costNanos[i] = s.cost?.totalNanos ?? 0;
    this.modelCall[i] = s.usageRole === "model_call" ? 1 : 0;
    const r = i * REFS;
    this.refs[r] = this.ref(s.agent);
    this.refs[r + 1] = this.ref(s.team);
    this.refs[r + 2] = this.ref(s.requestModel);
    this.refs[r + 3] = this.ref(s.responseModel);
    this.refs[r + 4] = this.ref(s.toolName);
  }

  private ref(name: string | null): number {
    if (name === null) return -1;
    let i = this.index.get(name);
    if (i === undefined) {
      i = this.names.length;
      this.names.push(name);
      this.index.set(name, i);
    }
    return i;
  }

  columns(): GovernedColumns {
    const n = this.count;
    return {
      count: n,
      ids: this.ids.join(""),
      timeMs: this.timeMs.subarray(0, n),
      costNanos: this.costNanos.subarray(0, n),
      modelCall: this.modelCall.subarray(0, n),
      refs: this.refs.subarray(0, n * REFS),
      names: this.names,
    };
  }
}

/** The buffers of `GovernedColumns`, to move them to another thread rather than copy them. */
export function governedBuffers(c: GovernedColumns): ArrayBuffer[] {
  if (c.count === 0) return [];
  return [c.timeMs.buffer, c.costNanos.buffer, c.modelCall.buffer, c.refs.buffer] as ArrayBuffer[];
}

/** The spans of `GovernedColumns`, as governance takes them. */
export function governedSpans(c: GovernedColumns): GovernedSpan[] {
  const out: GovernedSpan[] = new Array(c.count);
  const { ids, names, refs } = c;
  const name = (i: number) => (i < 0 ? null : names[i]);
  for (let i = 0; i < c.count; i++) {
    const at = i * ID_CHARS;
    const r = i * REFS;
    out[i] = {
      traceId: ids.slice(at, at + 32),
      spanId: ids.slice(at + 32, at + ID_CHARS),
      timeMs: c.timeMs[i],
      agent: names[refs[r]],
      team: names[refs[r + 1]],
      modelCall: c.modelCall[i] === 1,
      costNanos: c.costNanos[i],
      requestModel: name(refs[r + 2]),
      responseModel: name(refs[r + 3]),
      tool: name(refs[r + 4]),
    };
  }
  return out;
}
