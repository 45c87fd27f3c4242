import type { ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "@cognive/collector";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readsOf } from "../../src/api/reads.ts";
import { createQueryApp } from "../../src/app.ts";
import { DEFAULT_LIMITS, type ReadLimits } from "../../src/limits.ts";
import { postRaw } from "../helpers/http.ts";
import { freePort, spawnCognive, stopProcess } from "../helpers/process.ts";
import { getJson, useTestServer } from "../helpers/server.ts";

/**
 * Read limits on a store holding 10,000 service names: pathological PromQL, TraceQL and label
 * queries end with a 4xx (never a hang or a 5xx), ingest and readiness keep answering while heavy
 * reads run, and a limited read leaves no trace on the reads after it.
 */

const SERVICES = 10_000;
const TRACES = 20_000;
/** Spans per trace: a chain root → … → a model call. */
const DEPTH = 5;

const server = useTestServer();

/** Fills the store straight through SQL (the materialized views fill the rollups): fast, and no ingest limits. */
async function seed(): Promise<void> {
  const { storage } = server().running;
  await storage.client.command({
    query: `
      INSERT INTO cognive.otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, ServiceName, Duration,
        StatusCode, GenAiUsageRole, GenAiOperation, GenAiProvider, GenAiRequestModel, AgentName, TeamName,
        InputTokens, OutputTokens, Priced, CostUsd, SpanAttributes)
      SELECT
        toDateTime64(now() - 60 - (intDiv(number, ${DEPTH}) % 3000), 9) + toIntervalMillisecond(number % ${DEPTH}),
        leftPad(lower(hex(intDiv(number, ${DEPTH}) + 1)), 32, '0'),
        leftPad(lower(hex(number + 1)), 16, '0'),
        if(number % ${DEPTH} = 0, '', leftPad(lower(hex(number)), 16, '0')),
        concat('step-', toString(number % ${DEPTH})),
        concat('svc-', leftPad(toString(intDiv(number, ${DEPTH}) % ${SERVICES}), 5, '0')),
        1000000,
        'Ok',
        if(number % ${DEPTH} = ${DEPTH - 1}, 'model_call', 'none'),
        'chat', 'openai', 'gpt-4o', concat('agent-', toString(intDiv(number, ${DEPTH}) % 7)), 'red',
        100, 10, 1, 0.001,
        map('k', toString(number % 13))
      FROM numbers(${TRACES * DEPTH})`,
  });
}

const prom = (path: string, params: Record<string, string>) =>
  getJson(`${server().queryUrl}/api/v1${path}?${new URLSearchParams(params)}`);
/** Prometheus's POST form, as Grafana sends long queries. */
async function promPost(path: string, form: Record<string, string>) {
  const res = await fetch(`${server().queryUrl}/api/v1${path}`, { method: "POST", body: new URLSearchParams(form) });
  return { status: res.status, body: await res.json() };
}
const tempo = (path: string, params: Record<string, string>) =>
  getJson(`${server().queryUrl}${path}?${new URLSearchParams(params)}`);
const now = () => Math.floor(Date.now() / 1000);

/** A second app on the server's store with other limits (its reads share the store's gate and connections). */
function appWith(limits: Partial<ReadLimits>) {
  return createQueryApp({
    storage: server().running.storage,
    log: silentLogger,
    limits: { ...DEFAULT_LIMITS, ...limits },
  });
}

async function request(app: ReturnType<typeof appWith>, path: string) {
  const res = await app.request(path);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** An OTLP/JSON body of `n` spans of one new trace. */
function otlpBody(n = 1): Buffer {
  const t = BigInt(Date.now()) * 1_000_000n;
  const traceId = randomBytes(16).toString("hex");
  const spans = Array.from({ length: n }, (_, i) => ({
    traceId,
    spanId: randomBytes(8).toString("hex"),
    name: `alive-${i}`,
    kind: 1,
    startTimeUnixNano: String(t + BigInt(i)),
    endTimeUnixNano: String(t + 1_000_000n),
    attributes: [{ key: "k", value: { stringValue: String(i % 13) } }],
  }));
  return Buffer.from(
    JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: "ingest-under-load" } }] },
          scopeSpans: [{ scope: { name: "t" }, spans }],
        },
      ],
    }),
  );
}

const JSON_CT = { "content-type": "application/json" };

/** What `p` resolves to, failing when it takes longer than `ms` (a bounded wait, not a timing claim). */
async function within<T>(ms: number, p: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p(), late]);
  } finally {
    clearTimeout(timer);
  }
}

describe("reads over 10,000 services", () => {
  beforeAll(seed, 120_000);

  it("lists the values of service_name quickly, honouring limit, start and end", async () => {
    const t = now();
    const all = await within(2_000, () =>
      prom("/label/service_name/values", { start: String(t - 7200), end: String(t) }),
    );
    expect(all.status).toBe(200);
    expect(all.body.data).toHaveLength(SERVICES);
    expect(all.body.warnings).toBeUndefined();
    const some = await within(2_000, () => prom("/label/service_name/values", { limit: "100" }));
    expect(some.body.data).toEqual(all.body.data.slice(0, 100));
    expect(some.body.warnings[0]).toMatch(/truncated to 100/);
    const before = await prom("/label/service_name/values", { start: "1000000000", end: "1000003600" });
    expect(before.body.data).toEqual([]);
    // Tempo's tag values too.
    const tags = await within(2_000, () => tempo("/api/v2/search/tag/resource.service.name/values", { limit: "50" }));
    expect(tags.body.tagValues).toHaveLength(50);
    const old = await tempo("/api/v2/search/tag/resource.service.name/values", {
      start: "1000000000",
      end: "1000003600",
    });
    expect(old.body.tagValues).toEqual([]);
  });

  it("caps series listings at their limit with a warning", async () => {
    const r = await within(5_000, () => prom("/series", { "match[]": '{__name__=~".+"}', limit: "10" }));
    expect(r.status).toBe(200);
    expect(r.body.data).toHaveLength(10);
    expect(r.body.warnings[0]).toMatch(/truncated to 10/);
  });

  it('answers ten `or`s of {__name__=~".+"} with 422 and what to narrow, quickly', async () => {
    const query = Array(10).fill('{__name__=~".+"}').join(" or ");
    for (const path of ["/query", "/query_range"]) {
      const t = now();
      const r = await within(10_000, () =>
        prom(path, { query, time: String(t), start: String(t - 3600), end: String(t), step: "60" }),
      );
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body).toMatchObject({ status: "error", errorType: "execution" });
      expect(r.body.error).toMatch(/more than 10,000 series.*COGNIVE_QUERY_MAX_SERIES.*add label matchers/);
    }
  });

  it("stops a PromQL query over the samples limit while reading", async () => {
    const app = appWith({ maxSamples: 1_000 });
    const t = now();
    const r = await request(
      app,
      `/api/v1/query_range?${new URLSearchParams({ query: 'cognive_llm_calls_total{agent="agent-0"}', start: String(t - 3600), end: String(t), step: "60" })}`,
    );
    expect(r.status).toBe(422);
    expect(r.body.error).toMatch(/would read more than 1,000 samples \(COGNIVE_QUERY_MAX_SAMPLES\)/);
  });

  it("ends a chained {} >> {} >> {} >> {} search within its limits or with 422", async () => {
    const q = "{} >> {} >> {} >> {}";
    const t = now();
    const searches: Record<string, string>[] = [{ q }, { q, start: "0", end: String(t), limit: "1000" }];
    for (const params of searches) {
      const r = await within(10_000, () => tempo("/api/search", params));
      expect([200, 422], JSON.stringify(r.body).slice(0, 300)).toContain(r.status);
      if (r.status === 200) expect(r.body.traces.length).toBeGreaterThan(0);
    }
    // Over a span limit of 1,000 the newest window alone is too much: 422 saying what to narrow.
    const small = appWith({ traceqlMaxSpans: 1_000 });
    const r = await request(
      small,
      `/api/search?${new URLSearchParams({ q, start: "0", end: String(t), limit: "1000" })}`,
    );
    expect(r.status).toBe(422);
    expect(r.body.error).toEqual({
      code: "query_too_large",
      message: expect.stringMatching(/more than 1,000 spans.*COGNIVE_TRACEQL_MAX_SPANS.*narrow the time range/),
    });
  });

  it("answers oversized TraceQL with 400: 300 || terms, 300 conditions, 70 nested parentheses, a long query", async () => {
    const spansets = Array.from({ length: 300 }, (_, i) => `{.k=${i}}`).join("||");
    const conditions = `{${Array.from({ length: 300 }, (_, i) => `.k=${i}`).join("||")}}`;
    const nested = `{${"(".repeat(70)}.k=1${")".repeat(70)}}`;
    for (const [q, message] of [
      [spansets, /more than 100 spanset filters/],
      [conditions, /more than 100 conditions/],
      [nested, /nested deeper than 64 levels at position/],
      [`{ .k = "${"x".repeat(5000)}" }`, /longer than 4096 characters/],
    ] as const) {
      const r = await tempo("/api/search", { q });
      expect(r.status, q.slice(0, 40)).toBe(400);
      expect(r.body.error.message).toMatch(message);
    }
    // 100 of them are fine.
    const hundred = Array.from({ length: 100 }, (_, i) => `{.k=${i}}`).join("||");
    expect((await tempo("/api/search", { q: hundred })).status).toBe(200);
  });

  it("answers numbers an integer column cannot hold with 400 and a position, and big ones it can with 200", async () => {
    for (const [q, message] of [
      ["{ duration > 100000000000000000000000 }", /number 1e\+23 at position 14 is out of range for duration/],
      ["{ span.gen_ai.usage.input_tokens < 1e23 }", /position 36 is out of range for span.gen_ai.usage.input_tokens/],
      ["{ traceDuration > -1e30 }", /out of range for traceDuration/],
    ] as const) {
      const r = await tempo("/api/search", { q });
      expect(r.status, q).toBe(400);
      expect(r.body.error.message).toMatch(message);
    }
    const metrics = await tempo("/api/metrics/query_range", { q: "{ duration > 100000000000000000000000 } | rate()" });
    expect(metrics.status).toBe(400);
    const infinite = await tempo("/api/search", { q: `{ .k > 1${"0".repeat(400)} }` });
    expect(infinite.status).toBe(400);
    expect(infinite.body.error.message).toMatch(/out of range/);
    // Within what the columns hold, beyond 2^53, or on a text attribute: an answer.
    for (const q of ["{ duration > 10000000000000000 }", "{ .k = 100000000000000000000000 }", "{ .k < 1e23 }"]) {
      const r = await tempo("/api/search", { q });
      expect(r.status, q).toBe(200);
    }
    // A tag-values filter the user is still typing never fails the listing.
    const tags = await tempo("/api/v2/search/tag/name/values", { q: "{ duration > 100000000000000000000000 }" });
    expect(tags.status).toBe(200);
  });

  it("answers oversized PromQL with 400 bad_data and a position", async () => {
    const cases: [string, RegExp][] = [
      [`${"(".repeat(2040)}1${")".repeat(2040)}`, /position 65: expression nested deeper than 64 levels/],
      [`${"-".repeat(100)}1`, /nested deeper than 64 levels/],
      [`1${"0".repeat(400)}`, /position 1: number 1000.* is out of range/],
      ["rate(cognive_llm_calls_total[100000000000000000000000s])", /position 30: duration .* is out of range/],
      [Array(150).fill("1").join(" + "), /position 403: more than 100 binary operations/],
      [Array(150).fill("cognive_llm_calls_total").join(" or "), /more than 100 series selectors/],
    ];
    for (const [query, message] of cases) {
      const r = await promPost("/query", { query });
      expect(r.status, query.slice(0, 40)).toBe(400);
      expect(r.body.errorType).toBe("bad_data");
      expect(r.body.error).toMatch(message);
    }
  });

  it("keeps ingest and readiness answering within 2 s while heavy reads run", async () => {
    const { storage } = server().running;
    const t = now();
    const heavy = [
      () =>
        prom("/query_range", {
          query: 'cognive_llm_calls_total{agent="agent-0"}',
          start: String(t - 7200),
          end: String(t),
          step: "5",
        }),
      () => tempo("/api/metrics/query_range", { q: "{} | rate() by (resource.service.name)", step: "60" }),
      () => tempo("/api/search", { q: '{ span.k =~ "1.*" }', start: "0", end: String(t), limit: "1000" }),
      () => prom("/query", { query: Array(10).fill('{__name__=~".+"}').join(" or ") }),
    ];
    const reads = Array.from({ length: 12 }, (_, i) => heavy[i % heavy.length]());
    // Wait until reads are running in the store.
    await within(5_000, async () => {
      while (readsOf(storage).gate.stats.running === 0) await new Promise((r) => setTimeout(r, 5));
    });
    for (let i = 0; i < 3; i++) {
      const ingest = await within(2_000, () => postRaw(`${server().otlpUrl}/v1/traces`, otlpBody(), JSON_CT));
      expect(ingest.status).toBe(200);
      for (const url of [`${server().otlpUrl}/readyz`, `${server().queryUrl}/readyz`]) {
        const ready = await within(2_000, () => fetch(url));
        expect(ready.status, url).toBe(200);
      }
    }
    const statuses = (await Promise.all(reads)).map((r) => r.status);
    for (const s of statuses) expect([200, 422, 503]).toContain(s);
  }, 60_000);

  it("refuses reads beyond the queue with 503 and Retry-After, never hanging", async () => {
    const { storage } = server().running;
    // A one-slot gate on a store of its own would be cleaner; here the server's gate is full when
    // more reads arrive than it runs and queues.
    const gate = readsOf(storage).gate;
    const t = now();
    const many = Array.from({ length: DEFAULT_LIMITS.concurrency + DEFAULT_LIMITS.queueSize + 20 }, () =>
      within(30_000, async () => {
        const query = { query: 'cognive_llm_calls_total{agent="agent-1"}', start: String(t - 3600), end: String(t) };
        const res = await fetch(
          `${server().queryUrl}/api/v1/query_range?${new URLSearchParams({ ...query, step: "15" })}`,
        );
        return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() };
      }),
    );
    const results = await Promise.all(many);
    const busy = results.filter((r) => r.status === 503);
    expect(busy.length).toBeGreaterThan(0);
    expect(busy[0].body).toMatchObject({ status: "error", errorType: "unavailable" });
    expect(busy[0].body.error).toMatch(/too many reads|waited 5 s/);
    expect(Number(busy[0].retryAfter)).toBeGreaterThan(0);
    // The native API answers the same way.
    const native = await Promise.all(
      Array.from({ length: DEFAULT_LIMITS.concurrency + DEFAULT_LIMITS.queueSize + 20 }, () =>
        within(30_000, async () => {
          const res = await fetch(`${server().queryUrl}/api/v1/traces?limit=1000&from=0`);
          return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() };
        }),
      ),
    );
    const nativeBusy = native.filter((r) => r.status === 503);
    expect(nativeBusy.length).toBeGreaterThan(0);
    expect(nativeBusy[0].body.error.code).toBe("overloaded");
    expect(Number(nativeBusy[0].retryAfter)).toBeGreaterThan(0);
    for (const r of native) expect([200, 503]).toContain(r.status);
    for (const r of results) expect([200, 503]).toContain(r.status);
    expect(gate.stats).toEqual({ running: 0, waiting: 0 });
  }, 60_000);

  it("leaves no limit behind: a read after a limited one on the same connections answers in full", async () => {
    const agents = await prom("/label/agent/values", {});
    expect(agents.body.data).toEqual(expect.arrayContaining(["agent-0", "agent-6"]));
    const limited = appWith({ maxResultRows: 5 });
    const path = `/api/v1/label/service_name/values?${new URLSearchParams({ limit: "3" })}`;
    // Succeeds within 5 rows: its connection goes back to the pool.
    const small = await request(limited, path);
    expect(small.status).toBe(200);
    expect(small.body.data).toHaveLength(3);
    const full = await prom("/label/service_name/values", {});
    expect(full.body.data).toHaveLength(SERVICES);
    // Fails over 5 rows (a 422 with what to lower), then the next read gets its own answer, not
    // what was left of the failed one.
    const over = await request(limited, "/api/v1/label/service_name/values");
    expect(over.status).toBe(422);
    expect(over.body.error).toMatch(/larger than 5 rows.*COGNIVE_QUERY_MAX_RESULT_ROWS/);
    const after = await prom("/label/agent/values", {});
    expect(after.status).toBe(200);
    expect(after.body.data).toEqual(agents.body.data);
    const nativeOver = await request(limited, "/api/v1/traces?limit=50");
    expect(nativeOver.status).toBe(422);
    expect(nativeOver.body.error.code).toBe("query_too_large");
  });
});

describe("a server whose reads may run 1 ms (COGNIVE_QUERY_TIMEOUT_SECONDS=0.001)", () => {
  let child: ChildProcess | undefined;
  let dir = "";
  let queryUrl = "";
  let otlpUrl = "";
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cognive-read-timeout-"));
    const [otlpPort, queryPort] = [await freePort(), await freePort()];
    otlpUrl = `http://127.0.0.1:${otlpPort}`;
    queryUrl = `http://127.0.0.1:${queryPort}`;
    child = await spawnCognive({
      COGNIVE_DATA_DIR: dir,
      COGNIVE_OTLP_PORT: String(otlpPort),
      COGNIVE_PORT: String(queryPort),
      COGNIVE_QUERY_TIMEOUT_SECONDS: "0.001",
    });
    for (let i = 0; i < 4; i++) {
      expect((await postRaw(`${otlpUrl}/v1/traces`, otlpBody(2_000), JSON_CT)).status).toBe(200);
    }
  }, 90_000);
  afterAll(async () => {
    if (child) await stopProcess(child);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });

  it("answers reads over the time limit with 422 in each API's shape, and stays ready", async () => {
    const search = await getJson(
      `${queryUrl}/api/search?${new URLSearchParams({ q: '{ .k =~ ".*1.*" }', start: "0" })}`,
    );
    expect(search.status).toBe(422);
    expect(search.body.error).toEqual({
      code: "query_too_large",
      message: expect.stringMatching(
        /ran longer than 0.001 s \(COGNIVE_QUERY_TIMEOUT_SECONDS\); narrow the time range/,
      ),
    });
    const traces = await getJson(`${queryUrl}/api/v1/traces?from=0`);
    expect(traces.status).toBe(422);
    expect(traces.body.error.code).toBe("query_too_large");
    const promql = await getJson(
      `${queryUrl}/api/v1/series?${new URLSearchParams({ "match[]": "cognive_llm_calls_total", start: "0" })}`,
    );
    expect([200, 422]).toContain(promql.status); // an empty rollup may answer within 1 ms
    if (promql.status === 422) expect(promql.body.errorType).toBe("execution");
    expect((await fetch(`${queryUrl}/readyz`)).status).toBe(200);
    expect((await postRaw(`${otlpUrl}/v1/traces`, otlpBody(), JSON_CT)).status).toBe(200);
  });

  it("refuses to start with a limit that is not a number, naming the variable", () => {
    const r = spawnSync(
      process.execPath,
      [join(new URL("../..", import.meta.url).pathname, "bin/cognive.js"), "start"],
      {
        env: {
          ...process.env,
          COGNIVE_DATA_DIR: join(dir, "other"),
          // Every port ephemeral: a Cognive already running here must not decide how this start fails.
          COGNIVE_OTLP_PORT: "0",
          COGNIVE_GRPC_PORT: "0",
          COGNIVE_PORT: "0",
          COGNIVE_QUERY_MAX_RESULT_ROWS: "lots",
        },
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/invalid COGNIVE_QUERY_MAX_RESULT_ROWS="lots"/);
  }, 60_000);
});
