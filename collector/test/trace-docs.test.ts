import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorage, type Storage } from "../src/storage/client.ts";
import { migrate } from "../src/storage/migrate.ts";
import { migrations, SPAN_COLUMNS, SPAN_TABLE, TRACE_DOCS_TABLE } from "../src/storage/schema.ts";
import { queryRows } from "../src/storage/sql.ts";
import { readTraceDocs, TRACE_DOC_COLUMNS_SQL, TraceDocError } from "../src/storage/trace-docs.ts";
import { chatAttributes, normalizedRows, traceSpans } from "./support/spans.ts";

// Migration 19: each trace's spans as RowBinary rows in one column, backfilled for the spans already
// stored and written by a view for new ones; every row decodes to the span as the span table has it.
const dir = mkdtempSync(join(tmpdir(), "cognive-trace-docs-"));
let storage: Storage;
const db = "cognive";
const now = BigInt(Date.now()) * 1_000_000n;
const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");
const docs = migrations.find((m) => m.version === 19);

/** Spans meant to trip a row up: quotes, backslashes, newlines, tabs, non-ASCII, typed values, events. */
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
        ...chatAttributes(1234, 56),
        "gen_ai.conversation.id": "conv-\u0001-9",
        big: "18446744073709551615",
      },
    },
  ]);
  const n = normalizedRows(spans, { service: "docs ✓", team, nowNs: now, scope: { name: "s", version: "1" } });
  return { traceId, tsv: n.tsv };
}

/** The trace as the span table lists it, one object per span, with the document's fields and types. */
const fromSpans = (traceId: string) =>
  queryRows<Record<string, unknown>>(
    storage,
    `SELECT ${TRACE_DOC_COLUMNS_SQL} FROM ${db}.${SPAN_TABLE} WHERE TraceId = {t:String} ORDER BY Timestamp, SpanId`,
    { t: traceId },
  );

/** The trace's documents as stored, and how many span rows they hold (repeats counted). */
async function docsOf(traceId: string): Promise<{ docs: Buffer[]; rows: number }> {
  const got = await queryRows<{ Doc: string; Spans: number }>(
    storage,
    `SELECT base64Encode(Doc) AS Doc, Spans FROM ${db}.${TRACE_DOCS_TABLE} WHERE TraceId = {t:String}`,
    { t: traceId },
  );
  return { docs: got.map((r) => Buffer.from(r.Doc, "base64")), rows: got.reduce((n, r) => n + r.Spans, 0) };
}

async function expectDocMatchesSpans(traceId: string): Promise<void> {
  const spans = await fromSpans(traceId);
  expect(spans.length).toBe(2);
  expect(readTraceDocs((await docsOf(traceId)).docs)).toEqual(spans);
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
    const backfilled = await docsOf(old[0].traceId);
    expect(backfilled.docs.length).toBe(2);
    expect(backfilled.rows).toBe(2);

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

  it("a backfill that runs again repeats rows; a read counts each span once", async () => {
    const traceId = hex(1, 32);
    const before = await docsOf(traceId);
    await storage.client.command({ query: (docs?.statements.at(-1) ?? "").replaceAll("{db}", db) });
    const after = await docsOf(traceId);
    expect(after.rows).toBe(before.rows * 2);
    expect(readTraceDocs(after.docs)).toEqual(readTraceDocs(before.docs));
    await expectDocMatchesSpans(traceId);
  });

  it("refuses a truncated document rather than read half a span", async () => {
    // The view's document of trace 3 (the backfill's run again holds one span each).
    const doc = (await docsOf(hex(3, 32))).docs.reduce((a, b) => (b.length > a.length ? b : a));
    expect(readTraceDocs([doc]).length).toBe(2);
    for (const cut of [1, 9, Math.floor(doc.length / 2), doc.length - 1]) {
      expect(() => readTraceDocs([doc.subarray(0, doc.length - cut)])).toThrow(TraceDocError);
    }
  });
});
