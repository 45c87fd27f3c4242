import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyRetention, createStorage, type Logger, migrate, type Storage, silentLogger } from "@cognive/collector";
import { usdToNanos } from "@cognive/semconv";
import type { Hono } from "hono";
import { afterAll, beforeAll } from "vitest";
import { FIXTURE_RETENTION } from "../../../collector/test/support/storage.ts";
import { createQueryApp } from "../../src/app.ts";

/** One row of `otel_traces` as the tests write it; unset columns take the table defaults. */
export interface SpanRow {
  TraceId: string;
  SpanId: string;
  ParentSpanId?: string;
  /** Start in nanoseconds since the epoch. */
  startNs: bigint;
  Duration?: number;
  SpanName?: string;
  SpanKind?: string;
  ServiceName?: string;
  ResourceAttributes?: Record<string, string>;
  SpanAttributes?: Record<string, string>;
  /** The OTLP type codes (ATTR_TYPE) of non-string attributes, as the collector stores them. */
  SpanAttributeTypes?: Record<string, number>;
  ResourceAttributeTypes?: Record<string, number>;
  StatusCode?: string;
  StatusMessage?: string;
  /** `types`: the OTLP type codes (ATTR_TYPE) of non-string attributes, as the collector stores them. */
  events?: { timeNs: bigint; name: string; attributes: Record<string, string>; types?: Record<string, number> }[];
  ScopeName?: string;
  ScopeVersion?: string;
  TeamName?: string;
  Environment?: string;
  AgentName?: string;
  GenAiOperation?: string;
  GenAiProvider?: string;
  GenAiRequestModel?: string;
  GenAiResponseModel?: string;
  GenAiUsageRole?: "none" | "model_call" | "aggregate";
  InputTokens?: number;
  OutputTokens?: number;
  CacheReadTokens?: number;
  CacheWriteTokens?: number;
  ReasoningTokens?: number;
  ToolName?: string;
  ConversationId?: string;
  UserId?: string;
  Priced?: number;
  CostUsd?: number;
  CostInputUsd?: number;
  CostOutputUsd?: number;
  CostCacheReadUsd?: number;
  CostCacheWriteUsd?: number;
}

/** A DateTime64(9) literal for nanoseconds since the epoch. */
export function dt64(ns: bigint): string {
  const s = ns / 1_000_000_000n;
  return `${s}.${String(ns - s * 1_000_000_000n).padStart(9, "0")}`;
}

export const sec = (s: number): bigint => BigInt(Math.round(s * 1000)) * 1_000_000n;

export interface Fixture {
  storage: Storage;
  app: Hono;
  dir: string;
  /** Inserts spans in one batch, straight into the span table, so the materialized views fill the rest. */
  insert(rows: SpanRow[]): Promise<void>;
  get(path: string): Promise<{ status: number; body: any }>;
  count(table: string): Promise<number>;
  close(): Promise<void>;
}

/** A logger keeping the warnings (lenient reads log what they swallowed), for tests that assert none happened. */
export function warningLog(): { log: Logger; warnings: string[] } {
  const warnings: string[] = [];
  return { log: { ...silentLogger, warn: (msg, fields) => warnings.push(`${msg} ${String(fields?.err)}`) }, warnings };
}

/**
 * A row's costs as ingest stores them: to the nearest nano-dollar (as text: ClickHouse reads a longer
 * decimal such as 0.0029999999999999996 by cutting its digits, not rounding).
 */
function moneyText(r: Omit<SpanRow, "startNs" | "events">): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r)) {
    if (/^Cost\w*Usd$/.test(k) && typeof v === "number") out[k] = (usdToNanos(v) / 1e9).toFixed(9);
  }
  return out;
}

/** A fixture for the test file: opened with `rows` inserted (one batch) before its tests, closed after them. */
export function useFixture(rows: SpanRow[], log: Logger = silentLogger): () => Fixture {
  let fx: Fixture | undefined;
  beforeAll(async () => {
    fx = await openFixture(log);
    await fx.insert(rows);
  });
  afterAll(async () => {
    await fx?.close();
  });
  return () => {
    if (!fx) throw new Error("fixture not open");
    return fx;
  };
}

export async function openFixture(log: Logger = silentLogger): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), "cognive-api-"));
  const storage = createStorage({ dataDir: dir, database: "cognive" });
  await migrate(storage);
  await applyRetention(storage, FIXTURE_RETENTION);
  const app = createQueryApp({ storage, log });
  return {
    storage,
    app,
    dir,
    async insert(rows) {
      const values = rows.map(({ startNs, events = [], ...r }) => ({
        ...r,
        ...moneyText(r),
        Timestamp: dt64(startNs),
        "Events.Timestamp": events.map((e) => dt64(e.timeNs)),
        "Events.Name": events.map((e) => e.name),
        "Events.Attributes": events.map((e) => e.attributes),
        EventAttributeTypes: events.map((e) => e.types ?? {}),
      }));
      await storage.client.insert({ table: "cognive.otel_traces", values, format: "JSONEachRow" });
    },
    async get(path) {
      const res = await app.request(path);
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    async count(table) {
      const rs = await storage.client.query({
        query: `SELECT count() AS n FROM cognive.${table}`,
        format: "JSONEachRow",
      });
      const rows = (await rs.json()) as { n: string }[];
      return Number(rows[0].n);
    },
    async close() {
      await storage.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}

/** A 32-hex-digit trace id made from a small number, easy to read in failures. */
export const traceId = (n: number, prefix = "a"): string => `${prefix}${String(n).padStart(31, "0")}`;

/** Strings that would change a query's meaning if they were ever concatenated into SQL. */
export const INJECTIONS = [
  "x' OR 1=1 --",
  "x') OR 1=1 --",
  "' OR ''='",
  "x\\' OR 1=1 --",
  "x}; DROP TABLE cognive.otel_traces; --",
  "{service:String}",
  "x' UNION SELECT * FROM system.tables --",
];
