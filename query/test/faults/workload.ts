import { expect } from "vitest";
import { postRaw, type RawResponse } from "../helpers/http.ts";
import { getJson } from "../helpers/server.ts";

export const JSON_CT = { "content-type": "application/json" };
export const CALLS_PER_TRACE = 19;
export const INPUT_TOKENS = 100;
export const AGENT = "fault-agent";

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

/**
 * One request per trace: an `invoke_agent` root and CALLS_PER_TRACE priced chat calls. Ids and
 * times are fixed when the workload is made, so a resent request is byte for byte the same.
 */
export function makeWorkload(requests: number, seed: number, startNs = BigInt(Date.now()) * 1_000_000n) {
  return Array.from({ length: requests }, (_, r) => {
    const traceId = hex(seed, 8) + hex(r + 1, 24);
    const t0 = startNs + BigInt(r) * 1_000_000n;
    const spans = [
      {
        traceId,
        spanId: hex(1, 16),
        name: `invoke_agent ${AGENT}`,
        kind: 1,
        startTimeUnixNano: String(t0),
        endTimeUnixNano: String(t0 + 900_000_000n),
        attributes: [
          { key: "gen_ai.operation.name", value: { stringValue: "invoke_agent" } },
          { key: "gen_ai.agent.name", value: { stringValue: AGENT } },
        ],
      },
      ...Array.from({ length: CALLS_PER_TRACE }, (_, i) => ({
        traceId,
        spanId: hex(i + 2, 16),
        parentSpanId: hex(1, 16),
        name: "chat gpt-4o",
        kind: 3,
        startTimeUnixNano: String(t0 + BigInt(i + 1) * 1_000_000n),
        endTimeUnixNano: String(t0 + BigInt(i + 1) * 1_000_000n + 500_000n),
        attributes: [
          { key: "gen_ai.operation.name", value: { stringValue: "chat" } },
          { key: "gen_ai.provider.name", value: { stringValue: "openai" } },
          { key: "gen_ai.request.model", value: { stringValue: "gpt-4o" } },
          { key: "gen_ai.usage.input_tokens", value: { intValue: String(INPUT_TOKENS) } },
          { key: "gen_ai.usage.output_tokens", value: { intValue: "10" } },
          // Bulk, so inserts take long enough for a crash to land inside one.
          { key: "gen_ai.prompt", value: { stringValue: `prompt ${r}/${i} `.repeat(200) } },
        ],
      })),
    ];
    const body = Buffer.from(
      JSON.stringify({
        resourceSpans: [
          {
            resource: { attributes: [{ key: "service.name", value: { stringValue: `faults-${seed}` } }] },
            scopeSpans: [{ scope: { name: "faults" }, spans }],
          },
        ],
      }),
    );
    return { traceId, body };
  });
}

export type Workload = ReturnType<typeof makeWorkload>;

/** Sends every request, `concurrency` at a time; resolves with each answer (or the error that ended it). */
export async function send(otlpUrl: string, work: Workload, concurrency = 6): Promise<(RawResponse | Error)[]> {
  const out: (RawResponse | Error)[] = new Array(work.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < work.length) {
        const i = next++;
        out[i] = await postRaw(`${otlpUrl}/v1/traces`, work[i].body, JSON_CT).catch((e: Error) => e);
      }
    }),
  );
  return out;
}

/** Resends until every request is acknowledged (a 503 while storage recovers is retried, as exporters do). */
export async function sendUntilAcknowledged(otlpUrl: string, work: Workload): Promise<void> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const answers = await send(otlpUrl, work);
    const bad = answers.filter((a) => a instanceof Error || a.status !== 200);
    if (bad.length === 0) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("requests were not acknowledged after 30 rounds");
}

/** Every trace has exactly its spans, in the span table and in its summary; costs and budgets count each call once. */
export async function expectStoredOnce(apiUrl: string, work: Workload, opts: { budget?: boolean } = {}): Promise<void> {
  let traceCost = 0;
  for (const w of work) {
    const t = await getJson(`${apiUrl}/api/v1/traces/${w.traceId}`);
    expect(t.status, `trace ${w.traceId}`).toBe(200);
    expect(t.body.spans, `spans of ${w.traceId}`).toHaveLength(CALLS_PER_TRACE + 1);
    expect(t.body.summary.spanCount, `summary of ${w.traceId}`).toBe(CALLS_PER_TRACE + 1);
    expect(t.body.summary.inputTokens).toBe(CALLS_PER_TRACE * INPUT_TOKENS);
    traceCost += t.body.summary.costUsd;
  }
  const from = Math.floor(Date.now() / 1000) - 86_400;
  const to = Math.floor(Date.now() / 1000) + 3_600;
  const costs = await getJson(`${apiUrl}/api/v1/costs?groupBy=agent&from=${from}&to=${to}`);
  expect(costs.status).toBe(200);
  const agent = costs.body.series.find((s: { key: string }) => s.key === AGENT);
  expect(agent.calls).toBe(work.length * CALLS_PER_TRACE);
  expect(agent.inputTokens).toBe(work.length * CALLS_PER_TRACE * INPUT_TOKENS);
  expect(agent.totalUsd).toBeCloseTo(traceCost, 9);
  if (opts.budget) {
    const budgets = await getJson(`${apiUrl}/api/v1/budgets`);
    const day = budgets.body.budgets.find(
      (b: { scope: { name: string }; window: string }) => b.scope.name === AGENT && b.window === "day",
    );
    // Counters round each call to the micro-dollar.
    expect(Math.abs(day.spendUsd - agent.totalUsd)).toBeLessThan(1e-6 * agent.calls + 1e-9);
  }
}

export const POLICY = `agents:
  ${AGENT}:
    budgets: { daily_usd: 100000, monthly_usd: 1000000 }
`;
