import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Storage } from "../src/storage/client.ts";
import { recentSpanKeys, repairDerived, storedKeys } from "../src/storage/repair.ts";
import { SPAN_COLUMNS, SPAN_TABLE } from "../src/storage/schema.ts";
import { readTraceDocs } from "../src/storage/trace-docs.ts";
import { chatAttributes, normalizedRows, traceSpans } from "./support/spans.ts";
import { openTestStorage } from "./support/storage.ts";

let storage: Storage;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ storage, close } = await openTestStorage("repair"));
});
afterAll(() => close());

const now = BigInt(Date.now()) * 1_000_000n;
const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

/** A trace of one root and `calls` priced model calls, as TSV rows the writer would insert. */
function traceRows(trace: number, calls: number) {
  const traceId = hex(trace, 32);
  const spans = traceSpans(traceId, now, [
    {
      spanId: hex(1, 16),
      parentSpanId: "",
      name: "invoke_agent a",
      attributes: { "gen_ai.operation.name": "invoke_agent" },
    },
    ...Array.from({ length: calls }, (_, i) => ({
      spanId: hex(i + 2, 16),
      parentSpanId: hex(1, 16),
      name: "chat gpt-4o",
      attributes: chatAttributes(1000, 100),
    })),
  ]);
  const n = normalizedRows(spans, { service: "repair", team: null, nowNs: now });
  return { traceId, tsv: n.tsv, keys: n.ids.map((s) => ({ traceId: s.traceId, spanId: s.spanId })) };
}

async function one<T>(sql: string): Promise<T> {
  const rs = await storage.client.query({ query: sql, format: "JSONEachRow" });
  return ((await rs.json()) as T[])[0];
}

const derivedTotals = () =>
  one<{ calls: string; spans: string; runs: string; hist: string; traces: string; docSpans: string }>(`SELECT
    (SELECT sum(Calls) FROM cognive.llm_rollup_1m) AS calls,
    (SELECT sum(SpanCount) FROM cognive.trace_summary) AS spans,
    (SELECT sum(Runs) FROM cognive.agent_runs_1m) AS runs,
    (SELECT sum(Count) FROM cognive.llm_histogram_1m WHERE Metric = 'duration') AS hist,
    (SELECT uniqExact(TraceId) FROM cognive.otel_traces_trace_id_ts) AS traces,
    (SELECT sum(Spans) FROM cognive.trace_docs) AS docSpans`);

describe("repairing derived tables after an interrupted insert", () => {
  it("finds nothing to repair when every view saw every span", async () => {
    const t = traceRows(1, 3);
    await storage.insertTsv(SPAN_TABLE, SPAN_COLUMNS, t.tsv);
    expect(await repairDerived(storage, now - 60_000_000_000n)).toEqual({ traces: 0, minutes: 0 });
  });

  it("rebuilds the summary, lookup and per-minute rows of spans no view saw, and only those", async () => {
    const before = await derivedTotals();
    const t = traceRows(2, 4);
    await storage.insertTsv(SPAN_TABLE, SPAN_COLUMNS, t.tsv);
    // A crash between the span table and its views: the views' rows of this insert are missing.
    for (const [table, where] of [
      ["trace_summary", `TraceId = '${t.traceId}'`],
      ["otel_traces_trace_id_ts", `TraceId = '${t.traceId}'`],
      ["trace_docs", `TraceId = '${t.traceId}'`],
      ["llm_rollup_1m", "1"],
      ["llm_histogram_1m", "1"],
      ["agent_runs_1m", "1"],
    ]) {
      await storage.client.command({ query: `DELETE FROM cognive.${table} WHERE ${where}` });
    }
    const result = await repairDerived(storage, now - 60_000_000_000n);
    expect(result.traces).toBe(1);
    expect(result.minutes).toBeGreaterThanOrEqual(1);
    const after = await derivedTotals();
    // Trace 1 (3 calls + root) and trace 2 (4 calls + root): every figure counts each span once.
    expect(Number(after.calls)).toBe(7);
    expect(Number(after.hist)).toBe(7);
    expect(Number(after.runs)).toBe(2);
    expect(Number(after.spans)).toBe(Number(before.spans) + 5);
    expect(Number(after.traces)).toBe(2);
    expect(Number(after.docSpans)).toBe(Number(before.docSpans) + 5);
    // The rebuilt document holds each span once, as the span table has it.
    const docs = await storage.client.query({
      query: `SELECT base64Encode(Doc) AS Doc FROM cognive.trace_docs WHERE TraceId = '${t.traceId}'`,
      format: "JSONEachRow",
    });
    const rows = readTraceDocs<{ SpanId: string }>(
      ((await docs.json()) as { Doc: string }[]).map((d) => Buffer.from(d.Doc, "base64")),
    );
    expect(rows.map((r) => r.SpanId).sort()).toEqual(t.keys.map((k) => k.spanId).sort());
    const cost = await one<{ spans: number; rollup: number }>(`SELECT
      (SELECT sum(CostUsd) FROM cognive.otel_traces WHERE GenAiUsageRole = 'model_call') AS spans,
      (SELECT sum(CostUsd) FROM cognive.llm_rollup_1m) AS rollup`);
    expect(cost.spans).toBeGreaterThan(0);
    expect(cost.rollup).toBeCloseTo(cost.spans, 9);
    expect(await repairDerived(storage, now - 60_000_000_000n)).toEqual({ traces: 0, minutes: 0 });
    // A trace whose document alone is missing is found too.
    await storage.client.command({ query: `DELETE FROM cognive.trace_docs WHERE TraceId = '${t.traceId}'` });
    expect(await repairDerived(storage, now - 60_000_000_000n)).toEqual({ traces: 1, minutes: 0 });
    expect(Number((await derivedTotals()).docSpans)).toBe(Number(after.docSpans));
  });

  it("tells which spans of a batch are stored, and lists the keys of recent inserts", async () => {
    const stored = traceRows(3, 2);
    await storage.insertTsv(SPAN_TABLE, SPAN_COLUMNS, stored.tsv);
    const missing = traceRows(4, 2);
    const found = await storedKeys(storage, [...stored.keys, ...missing.keys], now - 1_000n, now + 1_000_000_000n);
    expect([...found].sort()).toEqual(stored.keys.map((k) => k.traceId + k.spanId).sort());
    const recent = await recentSpanKeys(storage, 5, 1_000_000);
    const recentSet = new Set(recent.map((k) => k.traceId + k.spanId));
    for (const k of stored.keys) expect(recentSet.has(k.traceId + k.spanId)).toBe(true);
    // Traces 1, 2 and 3: four, five and three spans.
    expect(recent.length).toBe(4 + 5 + 3);
  });

  it("leaves a trace's log documents alone while it rebuilds the trace's span documents", async () => {
    const t = traceRows(5, 1);
    await storage.insertTsv(SPAN_TABLE, SPAN_COLUMNS, t.tsv);
    await storage.client.insert({
      table: "cognive.otel_logs",
      values: [
        {
          Timestamp: new Date(Number(now / 1_000_000n)).toISOString().replace("T", " ").replace("Z", ""),
          TraceId: t.traceId,
          SpanId: hex(2, 16),
          Body: "kept",
        },
      ],
      format: "JSONEachRow",
    });
    const docs = () =>
      one<{ spans: string; logs: string }>(
        `SELECT sum(Spans) AS spans, sum(Logs) AS logs FROM cognive.trace_docs WHERE TraceId = '${t.traceId}'`,
      );
    expect(await docs()).toEqual({ spans: "2", logs: "1" });
    await storage.client.command({
      query: `DELETE FROM cognive.trace_docs WHERE TraceId = '${t.traceId}' AND Logs = 0`,
    });
    expect(await repairDerived(storage, now - 60_000_000_000n)).toEqual({ traces: 1, minutes: 0 });
    expect(await docs()).toEqual({ spans: "2", logs: "1" });
  });

  it("rebuilds a trace's log documents that disagree with its log records", async () => {
    const t = traceRows(6, 1);
    await storage.insertTsv(SPAN_TABLE, SPAN_COLUMNS, t.tsv);
    const at = new Date(Number(now / 1_000_000n)).toISOString().replace("T", " ").replace("Z", "");
    await storage.client.insert({
      table: "cognive.otel_logs",
      values: ["first", "second"].map((Body) => ({ Timestamp: at, TraceId: t.traceId, SpanId: hex(2, 16), Body })),
      format: "JSONEachRow",
    });
    const logs = async () =>
      (
        await one<{ logs: string }>(
          `SELECT sum(Logs) AS logs FROM cognive.trace_docs WHERE TraceId = '${t.traceId}' AND Logs > 0`,
        )
      ).logs;
    expect(await logs()).toBe("2");
    // A view that did not see the insert (a crash between the log table and its views).
    await storage.client.command({
      query: `DELETE FROM cognive.trace_docs WHERE TraceId = '${t.traceId}' AND Logs > 0`,
    });
    expect(await logs()).toBe("0");
    expect(await repairDerived(storage, now - 60_000_000_000n)).toEqual({ traces: 1, minutes: 0 });
    expect(await logs()).toBe("2");
    expect(await repairDerived(storage, now - 60_000_000_000n)).toEqual({ traces: 0, minutes: 0 });
  });
});
