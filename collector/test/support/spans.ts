import { Pricer } from "@cognive/semconv";
import type { DecodedSpan, DecodedTraces } from "../../src/otlp/model.ts";
import { normalize } from "../../src/pipeline/normalize.ts";

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

/**
 * A request of one service ("svc") carrying trace number `trace` (its id the number in hex): a span
 * named `name` and its child, whose attributes are `childAttributes`.
 */
export function twoSpanRequest(
  trace: number,
  startNs: bigint,
  name = "step",
  childAttributes: DecodedSpan["attributes"] = {},
): DecodedTraces {
  return {
    resourceSpans: [
      {
        resource: { "service.name": "svc" },
        scopeSpans: [
          {
            scopeName: "",
            scopeVersion: "",
            spans: traceSpans(trace.toString(16).padStart(32, "0"), startNs, [
              { name, attributes: { i: trace } },
              { name: `${name}-child`, attributes: childAttributes },
            ]),
          },
        ],
      },
    ],
  };
}

/** The GenAI attributes of a priced gpt-4o chat call. */
export function chatAttributes(inputTokens: number, outputTokens: number): DecodedSpan["attributes"] {
  return {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": inputTokens,
    "gen_ai.usage.output_tokens": outputTokens,
  };
}

/** Spans of one service, normalized as the pipeline does: the writer's TSV rows and the spans' ids. */
export function normalizedRows(
  spans: DecodedSpan[],
  opts: { service: string; team: string | null; nowNs: bigint; scope?: { name: string; version: string } },
) {
  const scope = opts.scope ?? { name: "", version: "" };
  const n = normalize(
    {
      resourceSpans: [
        {
          resource: { "service.name": opts.service },
          scopeSpans: [{ scopeName: scope.name, scopeVersion: scope.version, spans }],
        },
      ],
    },
    { team: opts.team },
    new Pricer(),
    opts.nowNs,
  );
  return { tsv: n.rows.join(""), ids: n.ids };
}
