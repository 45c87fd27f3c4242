/**
 * A span's de-duplication key: 128 bits, its 64-bit span id and a 64-bit hash of its whole trace id
 * (span ids are not always random: some tracers number them 1, 2, 3… within a trace). Keys are
 * written four 32-bit words a span into typed arrays, so the thread that decodes a request can hand
 * them to the thread that remembers them without copying strings.
 */
import { mix } from "../key-table.ts";

/** Writes the key of (traceId, spanId) at words [4·i, 4·i + 4) of `out`. Ids are validated lower-case hex. */
export function writeSpanKey(out: Uint32Array, i: number, traceId: string, spanId: string): void {
  writeSpanWords(out, i * 4, spanId);
  writeTraceWords(out, i * 4, traceId);
}

/**
 * The keys of `spans` in order, as `writeSpanKey` writes each: a span of the same trace as the span
 * before it (spans of a trace mostly come together) takes that span's trace words instead of parsing
 * and hashing its trace id again.
 */
export function writeSpanKeys(out: Uint32Array, spans: readonly { traceId: string; spanId: string }[]): void {
  let last = "";
  for (let i = 0; i < spans.length; i++) {
    const { traceId, spanId } = spans[i];
    const o = i * 4;
    writeSpanWords(out, o, spanId);
    if (i > 0 && traceId === last) {
      out[o + 2] = out[o - 2];
      out[o + 3] = out[o - 1];
    } else {
      writeTraceWords(out, o, traceId);
      last = traceId;
    }
  }
}

/** The span id's two words of the key at word `o`. */
function writeSpanWords(out: Uint32Array, o: number, spanId: string): void {
  out[o] = hexWord(spanId, 0);
  out[o + 1] = hexWord(spanId, 8);
}

/** The trace id's two hashed words of the key at word `o`. */
function writeTraceWords(out: Uint32Array, o: number, traceId: string): void {
  const t0 = hexWord(traceId, 0);
  const t1 = hexWord(traceId, 8);
  const t2 = hexWord(traceId, 16);
  const t3 = hexWord(traceId, 24);
  out[o + 2] = mix(mix(mix(mix(0x9747b28c, t0), t1), t2), t3);
  out[o + 3] = mix(mix(mix(mix(0x5bd1e995, t3), t2), t1), t0);
}

/** Eight lower-case hex digits at `at` as an unsigned 32-bit word. */
function hexWord(s: string, at: number): number {
  let v = 0;
  for (let i = at; i < at + 8; i++) {
    const c = s.charCodeAt(i);
    v = (v << 4) | (c <= 57 ? c - 48 : c - 87);
  }
  return v >>> 0;
}
