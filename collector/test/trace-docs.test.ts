import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pricer } from "@cognive/semconv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalize } from "../src/pipeline/normalize.ts";
import { createStorage, type Storage } from "../src/storage/client.ts";
import { migrate } from "../src/storage/migrate.ts";
import { migrations, SPAN_COLUMNS, SPAN_TABLE, TRACE_DOC_FIELDS, TRACE_DOCS_TABLE } from "../src/storage/schema.ts";
import { queryRows } from "../src/storage/sql.ts";
import { traceSpans } from "./support/spans.ts";

// Migration 19: each trace's spans as JSON lines in one column, backfilled for the spans already
// stored and written by a view for new ones; every line is the span as the span table has it.
const dir = mkdtempSync(join(tmpdir(), "cognive-trace-docs-"));
let storage: Storage;
const db = "cognive";
const now = BigInt(Date.now()) * 1_000_000n;
const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");
const docs = migrations.find((m) => m.version === 19);

/** Spans meant to trip a JSON line up: quotes, backslashes, newlines, tabs, non-ASCII, typed values, events. */
function traceTsv(trace: number, team: string | null): { traceId: string; tsv: string } {
  const traceId = hex(trace, 32);
  const spans = traceSpans(traceId, now + BigInt(trace) * 1_000n, [
    {
      name: 'invoke_agent "refunds"\n\tline two \\ back',
      attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "réfunds 🤖", "app.count": 7 },
      events: [
        { timeNs: now + 5n, name: "step\n1", attributes: { note: 'say "hi"\r\n', n: 2.5, ok: true } },
        { timeNs: now + 9n, name: "step 2", attributes: {} },
      ],
    },
    {
      parentSpanId: hex(1, 16),
      name: "chat gpt-4o",
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1234,
        "gen_ai.usage.output_tokens": 56,
        "gen_ai.conversation.id": "conv-\u0001-9",
        big: "18446744073709551615",
      },
    },
  ]);
  const n = normalize(
    {
      resourceSpans: [
        { resource: { "service.name": "docs ✓" }, scopeSpans: [{ scopeName: "s", scopeVersion: "1", spans }] },
      ],
    },
    { team },
    new Pricer(),
    now,
  );
  return { traceId, tsv: n.rows.join("") };
}

/** The trace as the span table lists it, one object per span, in the document's field order. */
const fromSpans = (traceId: string) =>
  queryRows<Record<string, unknown>>(
    storage,
    `SELECT ${TRACE_DOC_FIELDS} FROM ${db}.${SPAN_TABLE} WHERE TraceId = {t:String} ORDER BY Timestamp, SpanId`,
    { t: traceId },
  );

/** Every line of the trace's documents, in stored order (repeats kept). */
async function docLines(traceId: string): Promise<string[]> {
  const rows = await queryRows<{ Doc: string }>(
    storage,
    `SELECT Doc FROM ${db}.${TRACE_DOCS_TABLE} WHERE TraceId = {t:String}`,
    { t: traceId },
  );
  return rows.flatMap((r) => r.Doc.split("\n"));
}

const bySpan = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  String(a.StartNs).localeCompare(String(b.StartNs)) || String(a.SpanId).localeCompare(String(b.SpanId));

async function expectDocMatchesSpans(traceId: string): Promise<void> {
  const spans = await fromSpans(traceId);
  const lines = await docLines(traceId);
  expect(spans.length).toBe(2);
  expect([...new Set(lines)].map((l) => JSON.parse(l) as Record<string, unknown>).sort(bySpan)).toEqual(spans);
}

beforeAll(async () => {
  storage = createStorage({ dataDir: dir, database: db });
  await migrate(
    storage,
    undefined,
    migrations.filter((m) => m.version < 19),
  );
}, 180_000);
afterAll(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

describe("trace documents (migration 19)", () => {
  it("backfills the spans stored before it, then the view writes new ones; each line equals the span", async () => {
    const old = [traceTsv(1, "cx"), traceTsv(2, null)];
    for (const t of old) await storage.insertTsv(SPAN_TABLE, SPAN_COLUMNS, t.tsv);
    await migrate(storage);
    for (const t of old) await expectDocMatchesSpans(t.traceId);
    // One document per span for the backfill, so it streams instead of grouping the whole store.
    expect((await docLines(old[0].traceId)).length).toBe(2);

    const fresh = traceTsv(3, "cx");
    await storage.insertTsv(SPAN_TABLE, SPAN_COLUMNS, fresh.tsv);
    await expectDocMatchesSpans(fresh.traceId);
    const rows = await queryRows<{ TeamName: string; Spans: number; n: string }>(
      storage,
      `SELECT TeamName, Spans, count() AS n FROM ${db}.${TRACE_DOCS_TABLE} WHERE TraceId = {t:String} GROUP BY TeamName, Spans`,
      { t: fresh.traceId },
    );
    // The view's insert: one document for the trace's two spans, with the team the scope filters on.
    expect(rows).toEqual([{ TeamName: "cx", Spans: 2, n: "1" }]);
  });

  it("a backfill that runs again repeats lines, never changes what they say", async () => {
    const traceId = hex(1, 32);
    const before = await docLines(traceId);
    await storage.client.command({ query: (docs?.statements.at(-1) ?? "").replaceAll("{db}", db) });
    const after = await docLines(traceId);
    expect(after.length).toBe(before.length * 2);
    expect(new Set(after)).toEqual(new Set(before));
    await expectDocMatchesSpans(traceId);
  });
});
