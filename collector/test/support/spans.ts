import type { DecodedSpan } from "../../src/otlp/model.ts";

/**
 * Decoded spans of one trace as a decoder would hand them over: each starts one nanosecond after
 * the previous one and lasts 1 ms; span ids default to 1, 2, 3… and parents to none.
 */
export function traceSpans(
  traceId: string,
  startNs: bigint,
  spans: (Pick<DecodedSpan, "name" | "attributes"> & Partial<DecodedSpan>)[],
): DecodedSpan[] {
  return spans.map((s, i) => ({
    spanId: (i + 1).toString(16).padStart(16, "0"),
    parentSpanId: "",
    ...s,
    traceId,
    traceState: "",
    kind: 1,
    startNs: startNs + BigInt(i),
    endNs: startNs + BigInt(i) + 1_000_000n,
    events: [],
    links: [],
    statusCode: 0,
    statusMessage: "",
  }));
}
