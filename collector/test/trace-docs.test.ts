import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorage, type Storage } from "../src/storage/client.ts";
import { migrate } from "../src/storage/migrate.ts";
import { LOGS_TABLE, migrations, SPAN_COLUMNS, SPAN_TABLE, TRACE_DOCS_TABLE } from "../src/storage/schema.ts";
import { queryRows } from "../src/storage/sql.ts";
import {
  readTraceDocs,
  readTraceLogDocs,
  splitTraceDocs,
  TRACE_DOC_COLUMNS_SQL,
  TRACE_DOCS_READ,
  TRACE_LOG_COLUMNS_SQL,
  TraceDocError,
} from "../src/storage/trace-docs.ts";
import { chatAttributes, normalizedRows, traceSpans } from "./support/spans.ts";
import { rerunCopyMigration, tableSettings } from "./support/storage.ts";

// Migration 19: each trace's spans as RowBinary rows in one column, backfilled for the spans already
// stored and written by a view for new ones; every row decodes to the span as the span table has it.
// Migration 20: the same for the log records that name a span.
const dir = mkdtempSync(join(tmpdir(), "cognive-trace-docs-"));
let storage: Storage;
const db = "cognive";
const now = BigInt(Date.now()) * 1_000_000n;
const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");
const docs = migrations.find((m) => m.version === 19);
const logDocs = migrations.find((m) => m.version === 20);

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

/** The trace's span documents as stored, and how many span rows they hold (repeats counted). */
async function docsOf(traceId: string): Promise<{ docs: Buffer[]; rows: number }> {
  const got = await queryRows<{ Doc: string; Spans: number }>(
    storage,
    `SELECT base64Encode(Doc) AS Doc, Spans FROM ${db}.${TRACE_DOCS_TABLE} WHERE TraceId = {t:String} AND Logs = 0`,
    { t: traceId },
  );
  return { docs: got.map((r) => Buffer.from(r.Doc, "base64")), rows: got.reduce((n, r) => n + r.Spans, 0) };
}

async function expectDocMatchesSpans(traceId: string): Promise<void> {
  const spans = await fromSpans(traceId);
  expect(spans.length).toBe(2);
  expect(readTraceDocs((await docsOf(traceId)).docs)).toEqual(spans);
}

/** Log records meant to trip a row up, for spans 1 and 2 of the trace; one names no span, one no trace. */
async function insertLogs(trace: number, team: string, at: bigint): Promise<string> {
  const traceId = hex(trace, 32);
  const time = (ns: bigint) => {
    const d = new Date(Number(ns / 1_000_000n)).toISOString().replace("T", " ").slice(0, 19);
    return `${d}.${String(ns % 1_000_000_000n).padStart(9, "0")}`;
  };
  const values = [
    {
      s: hex(2, 16),
      t: at + 2n,
      body: 'answer "ok"\n\tnext \\ ✓',
      attrs: { "gen_ai.event": "choice", "k\u0001": "v\r\n" },
    },
    { s: hex(1, 16), t: at + 1n, body: "", attrs: {} },
    { s: hex(1, 16), t: at + 3n, body: "third 🤖", attrs: JSON.parse('{"__proto__":"x"}') },
    { s: "", t: at + 4n, body: "names no span", attrs: {} },
  ].map((l) => ({
    Timestamp: time(l.t),
    TraceId: traceId,
    SpanId: l.s,
    SeverityText: "INFO",
    EventName: l.body === "" ? "gen_ai.user.message" : "",
    Body: l.body,
    LogAttributes: l.attrs as Record<string, string>,
    TeamName: team,
  }));
  values.push({ ...values[0], TraceId: "", Body: "names no trace" });
  await storage.client.insert({ table: `${db}.${LOGS_TABLE}`, values, format: "JSONEachRow" });
  return traceId;
}

/** The trace's log records as the log table lists them, with the document's fields and types. */
const fromLogs = (traceId: string) =>
  queryRows<Record<string, unknown>>(
    storage,
    `SELECT ${TRACE_LOG_COLUMNS_SQL} FROM ${db}.${LOGS_TABLE}
     WHERE TraceId = {t:String} AND SpanId != '' ORDER BY Timestamp`,
    { t: traceId },
  );

/** The trace's log documents, as a trace read gets them, and how many records they hold. */
async function logDocsOf(traceId: string): Promise<{ docs: Buffer[]; records: number }> {
  const rs = await storage.client.exec({
    query: `SELECT ${TRACE_DOCS_READ} FROM ${db}.${TRACE_DOCS_TABLE} WHERE TraceId = {t:String} FORMAT RowBinary`,
    query_params: { t: traceId },
  });
  const chunks: Buffer[] = [];
  for await (const c of rs.stream) chunks.push(c as Buffer);
  const [n] = await queryRows<{ n: number }>(
    storage,
    `SELECT sum(Logs) AS n FROM ${db}.${TRACE_DOCS_TABLE} WHERE TraceId = {t:String}`,
    { t: traceId },
  );
  return { docs: splitTraceDocs(Buffer.concat(chunks)).logs, records: Number(n?.n ?? 0) };
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
    await insertLogs(1, "cx", now);
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

describe("log documents (migration 20)", () => {
  it("backfills the log records that name a span, then the view writes new ones; each row equals the record", async () => {
    const backfilled = hex(1, 32);
    const stored = await fromLogs(backfilled);
    expect(stored.length).toBe(3);
    const before = await logDocsOf(backfilled);
    // One document per record for the backfill; the record naming no span is not a trace's.
    expect(before.docs.length).toBe(3);
    expect(before.records).toBe(3);
    expect(readTraceLogDocs(before.docs)).toEqual(stored);
    // The span documents of the trace are untouched by its log documents.
    await expectDocMatchesSpans(backfilled);

    const fresh = await insertLogs(3, "cx", now + 1_000_000n);
    const view = await logDocsOf(fresh);
    expect(view.docs.length).toBe(1);
    expect(view.records).toBe(3);
    const records = readTraceLogDocs<Record<string, unknown>>(view.docs);
    expect(records).toEqual(await fromLogs(fresh));
    expect(records.map((r) => r.Body)).toEqual(["", 'answer "ok"\n\tnext \\ ✓', "third 🤖"]);
    expect(Object.keys(records[2]?.LogAttributes as object)).toEqual(["__proto__"]);
    const [outside] = await queryRows<{ n: string }>(
      storage,
      `SELECT count() AS n FROM ${db}.${TRACE_DOCS_TABLE} WHERE TraceId = ''`,
      {},
    );
    expect(outside?.n).toBe("0");
  });

  it("a backfill that runs again repeats rows; a read gets each record once", async () => {
    const traceId = hex(1, 32);
    const before = await logDocsOf(traceId);
    await storage.client.command({ query: (logDocs?.statements.at(-1) ?? "").replaceAll("{db}", db) });
    const after = await logDocsOf(traceId);
    expect(after.records).toBe(before.records * 2);
    expect(readTraceLogDocs(after.docs)).toEqual(readTraceLogDocs(before.docs));
  });
});

describe("trace documents in 64 KB granules (migrations 23, 24)", () => {
  const totals = async () =>
    (
      await queryRows<{ rows: string; spans: string; logs: string; docs: string }>(
        storage,
        `SELECT count() AS rows, sum(Spans) AS spans, sum(Logs) AS logs, toString(sum(cityHash64(TraceId, Doc))) AS docs
         FROM ${db}.${TRACE_DOCS_TABLE}`,
        {},
      )
    )[0];
  const tables = async () =>
    (await tableSettings(storage, TRACE_DOCS_TABLE, "MergeTree", ["index_granularity_bytes"])).map((t) => ({
      name: t.name,
      granule: t.index_granularity_bytes,
    }));

  it("keeps every document; a re-run, even after its swap, copies each once", async () => {
    const before = await totals();
    expect(Number(before?.rows)).toBeGreaterThan(0);
    expect(await tables()).toEqual([{ name: TRACE_DOCS_TABLE, granule: "65536" }]);
    await rerunCopyMigration(storage, 23, async () => {
      expect(await totals()).toEqual(before);
      expect((await tables()).find((t) => t.name === TRACE_DOCS_TABLE)?.granule).toBe("65536");
    });
    expect(await tables()).toEqual([{ name: TRACE_DOCS_TABLE, granule: "65536" }]);
    // The views write to the table under the name.
    const fresh = traceTsv(9, "cx");
    await storage.insertTsv(SPAN_TABLE, SPAN_COLUMNS, fresh.tsv);
    await expectDocMatchesSpans(fresh.traceId);
  });
});
