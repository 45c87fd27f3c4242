import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { promptPreview } from "../../src/api/trace-list.ts";
import { type Fixture, INJECTIONS, openFixture, type SpanRow, sec, traceId } from "./fixture.ts";

const BASE = 1_760_000_000;
const RANGE = `from=${BASE - 1}&to=${BASE + 1000}`;
const SERVICES = ["checkout", "search", "support"];
const MODELS = ["gpt-4o", "claude-sonnet-4", "gemini-2.5-pro", "gpt-4o", "mistral-large"];

interface Seeded {
  traceId: string;
  startNs: bigint;
  endNs: bigint;
  service: string;
  services: string[];
  agent: string;
  team: string;
  model: string;
  error: boolean;
  spanCount: number;
  inputTokens: number;
  costUsd: number;
}

const seeded: Seeded[] = [];
const spansOf = new Map<string, SpanRow[]>();

for (let i = 0; i < 25; i++) {
  const id = traceId(i, "c");
  // Two traces share a start time, so page boundaries must also order by trace id.
  const startNs = sec(BASE + (i === 8 ? 70 : i * 10));
  const durationNs = BigInt((i + 1) * 100) * 1_000_000n;
  const t: Seeded = {
    traceId: id,
    startNs,
    endNs: startNs + durationNs,
    service: SERVICES[i % 3],
    services: i % 2 === 0 ? [SERVICES[i % 3], "postgres"].sort() : [SERVICES[i % 3]],
    agent: `agent-${i % 4}`,
    team: i % 2 ? "red" : "blue",
    model: MODELS[i % 5],
    error: i % 6 === 0,
    spanCount: i % 2 === 0 ? 3 : 2,
    inputTokens: 100 + i,
    costUsd: i * 0.01,
  };
  seeded.push(t);
  const common = { TraceId: id, ServiceName: t.service, TeamName: t.team, AgentName: t.agent };
  const spans: SpanRow[] = [
    {
      ...common,
      SpanId: `${i}`.padStart(16, "r"),
      startNs,
      Duration: Number(durationNs),
      SpanName: `run ${i}`,
      StatusCode: t.error ? "Error" : "Unset",
      GenAiOperation: "invoke_agent",
      GenAiUsageRole: "aggregate",
      InputTokens: 100_000,
      CostUsd: 100,
    },
    {
      ...common,
      SpanId: `${i}`.padStart(16, "m"),
      ParentSpanId: `${i}`.padStart(16, "r"),
      startNs: startNs + 10_000_000n,
      Duration: 50_000_000,
      SpanName: "chat",
      GenAiOperation: "chat",
      GenAiUsageRole: "model_call",
      GenAiRequestModel: i % 5 === 4 ? "mistral" : t.model,
      GenAiResponseModel: i % 5 === 4 ? t.model : "",
      InputTokens: t.inputTokens,
      OutputTokens: 7,
      Priced: 1,
      CostUsd: t.costUsd,
    },
  ];
  if (i % 2 === 0) {
    spans.push({
      TraceId: id,
      SpanId: `${i}`.padStart(16, "d"),
      ParentSpanId: `${i}`.padStart(16, "r"),
      startNs: startNs + 20_000_000n,
      Duration: 1_000_000,
      SpanName: "SELECT",
      ServiceName: "postgres",
    });
  }
  spansOf.set(id, spans);
}

/** Newest first; equal starts by trace id, descending. */
const newestFirst = (a: Seeded, b: Seeded) =>
  a.startNs === b.startNs ? (a.traceId < b.traceId ? 1 : -1) : a.startNs < b.startNs ? 1 : -1;
const expectIds = (pred: (t: Seeded) => boolean) =>
  seeded
    .filter(pred)
    .sort(newestFirst)
    .map((t) => t.traceId);

const STRADDLE = traceId(1, "e");
const RECENT = traceId(2, "e");
const OLD = traceId(3, "e");

let fx: Fixture;
beforeAll(async () => {
  fx = await openFixture();
  // Keep each insert's partial summary row apart, as before a background merge: the API must
  // re-aggregate them, and the tests below must not pass just because a merge ran first.
  await fx.storage.client.command({ query: "SYSTEM STOP MERGES cognive.trace_summary" });
  const all = seeded.map((t) => spansOf.get(t.traceId)!);
  // Several batches, and trace 3's spans split across two of them, so trace_summary holds
  // partial rows that the API must re-aggregate.
  await fx.insert(all.slice(0, 3).flat());
  await fx.insert([all[3][0]]);
  await fx.insert([...all[3].slice(1), ...all.slice(4, 12).flat()]);
  await fx.insert(all.slice(12).flat());
  // A trace that started before the range, with a later batch inside it.
  await fx.insert([{ TraceId: STRADDLE, SpanId: "s1", startNs: sec(BASE - 100), Duration: 1, SpanName: "early" }]);
  await fx.insert([
    { TraceId: STRADDLE, SpanId: "s2", ParentSpanId: "s1", startNs: sec(BASE + 5), Duration: 1, SpanName: "late" },
  ]);
  const now = Date.now() / 1000;
  await fx.insert([
    { TraceId: RECENT, SpanId: "n1", startNs: sec(now - 3600), Duration: 1, SpanName: "recent" },
    { TraceId: OLD, SpanId: "o1", startNs: sec(now - 30 * 3600), Duration: 1, SpanName: "old" },
  ]);
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

async function list(query: string): Promise<any> {
  const res = await fx.get(`/api/v1/traces?${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

describe("GET /api/v1/traces", () => {
  it("lists every trace in range, newest first, with summaries re-aggregated across inserts", async () => {
    const body = await list(`${RANGE}&limit=1000`);
    expect(body.traces.map((t: any) => t.traceId)).toEqual(expectIds(() => true));
    expect(body.nextCursor).toBeNull();
    for (const t of seeded) {
      const item = body.traces.find((x: any) => x.traceId === t.traceId);
      expect(item, t.traceId).toEqual({
        traceId: t.traceId,
        rootName: `run ${Number(t.traceId.slice(1))}`,
        rootService: t.service,
        startTimeUnixNano: String(t.startNs),
        durationNs: String(t.endNs - t.startNs),
        spanCount: t.spanCount,
        errorCount: t.error ? 1 : 0,
        inputTokens: t.inputTokens,
        outputTokens: 7,
        costUsd: t.costUsd,
        services: t.services,
        agents: [t.agent],
        teams: [t.team],
        models: [t.model],
        unpricedCalls: 0,
        inputPreview: null,
        users: [],
      });
    }
  });

  it.each<[string, (t: Seeded) => boolean]>([
    ["service=search", (t) => t.services.includes("search")],
    ["service=postgres", (t) => t.services.includes("postgres")],
    ["agent=agent-2", (t) => t.agent === "agent-2"],
    ["team=red", (t) => t.team === "red"],
    ["model=gpt-4o", (t) => t.model === "gpt-4o"],
    ["model=mistral-large", (t) => t.model === "mistral-large"],
    ["model=mistral", () => false],
    ["status=error", (t) => t.error],
    ["status=ok", (t) => !t.error],
    ["minDurationMs=1500", (t) => t.endNs - t.startNs >= 1_500_000_000n],
    ["minDurationMs=1499.5", (t) => t.endNs - t.startNs >= 1_499_500_000n],
    ["maxDurationMs=500", (t) => t.endNs - t.startNs <= 500_000_000n],
    ["minCostUsd=0.2", (t) => t.costUsd >= 0.2],
    ["team=blue&service=checkout&status=ok", (t) => t.team === "blue" && t.service === "checkout" && !t.error],
  ])("filters by %s", async (filter, pred) => {
    const body = await list(`${RANGE}&limit=1000&${filter}`);
    const expected = expectIds(pred);
    expect(body.traces.map((t: any) => t.traceId)).toEqual(expected);
  });

  it("keeps traces whose start is within [from, to], decimals included", async () => {
    const body = await list(`from=${BASE + 49.5}&to=${BASE + 100}`);
    expect(body.traces.map((t: any) => t.traceId)).toEqual(
      expectIds((t) => t.startNs >= sec(BASE + 49.5) && t.startNs <= sec(BASE + 100)),
    );
    expect(body.traces.length).toBe(6);
  });

  it("judges a trace by its true start, not by the batch that falls in range", async () => {
    const parts = await fx.storage.client.query({
      query: "SELECT count() AS n FROM cognive.trace_summary WHERE TraceId = {id:String}",
      query_params: { id: STRADDLE },
      format: "JSONEachRow",
    });
    expect(await parts.json()).toEqual([{ n: "2" }]);
    const narrow = await list(`from=${BASE - 1}&to=${BASE + 6}&limit=1000`);
    expect(narrow.traces.map((t: any) => t.traceId)).not.toContain(STRADDLE);
    const wide = await list(`from=${BASE - 200}&to=${BASE + 6}&limit=1000`);
    const s = wide.traces.find((t: any) => t.traceId === STRADDLE);
    expect(s).toMatchObject({ spanCount: 2, rootName: "early", startTimeUnixNano: String(sec(BASE - 100)) });
  });

  it("defaults to the last 24 hours", async () => {
    const ids = (await list("limit=1000")).traces.map((t: any) => t.traceId);
    expect(ids).toEqual([RECENT]);
  });

  it.each([1, 4, 7])("pages with limit=%i through all traces without duplicates or gaps", async (limit) => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const body = await list(`${RANGE}&limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
      expect(body.traces.length).toBeLessThanOrEqual(limit);
      seen.push(...body.traces.map((t: any) => t.traceId));
      cursor = body.nextCursor;
      pages++;
      expect(pages).toBeLessThan(100);
    } while (cursor);
    expect(pages).toBe(Math.ceil(seeded.length / limit));
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expectIds(() => true));
  });

  it("pages through a filtered list", async () => {
    const first = await list(`${RANGE}&team=red&limit=5`);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await list(`${RANGE}&team=red&limit=5&cursor=${first.nextCursor}`);
    const third = await list(`${RANGE}&team=red&limit=5&cursor=${second.nextCursor}`);
    const ids = [...first.traces, ...second.traces, ...third.traces].map((t: any) => t.traceId);
    expect(ids).toEqual(expectIds((t) => t.team === "red"));
    expect(third.nextCursor).toBeNull();
  });

  it("reads the newest traces first and widens while too few match, in order, long traces by their true start", async () => {
    // Its own hour, so the other tests' traces stay as they are: 30 traces a second apart, each its
    // own insert (a summary row each), every tenth an error; and one that started first but has a
    // later insert newer than all of them.
    const from = BASE + 10_000;
    const ids = Array.from({ length: 30 }, (_, i) => traceId(i, "f"));
    for (const [i, id] of ids.entries()) {
      await fx.insert([
        {
          TraceId: id,
          SpanId: `${i}`.padStart(16, "f"),
          startNs: sec(from + 10 + i),
          Duration: 1,
          SpanName: "step",
          StatusCode: i % 10 === 3 ? "Error" : "Unset",
        },
      ]);
    }
    // Two errors that started first, each with a later insert newer than every other trace.
    const long = [traceId(98, "f"), traceId(99, "f")];
    for (const [i, id] of long.entries()) {
      await fx.insert([
        {
          TraceId: id,
          SpanId: `l${i}a`,
          startNs: sec(from + 1 + i),
          Duration: 1,
          SpanName: "first",
          StatusCode: "Error",
        },
      ]);
      await fx.insert([{ TraceId: id, SpanId: `l${i}b`, startNs: sec(from + 100 + i), Duration: 1, SpanName: "last" }]);
    }
    const range = `from=${from}&to=${from + 3600}`;
    const page = async (query: string) => {
      const out: string[] = [];
      let cursor: string | null = null;
      do {
        const body = await list(`${range}&${query}${cursor ? `&cursor=${cursor}` : ""}`);
        out.push(...body.traces.map((t: any) => t.traceId));
        cursor = body.nextCursor;
      } while (cursor && out.length < 100);
      return out;
    };
    const newest = [...ids].reverse();
    expect((await list(`${range}&limit=2`)).traces.map((t: any) => t.traceId)).toEqual(newest.slice(0, 2));
    const all = [...newest, ...[...long].reverse()];
    expect(await page("limit=1")).toEqual(all);
    expect(await page("limit=3")).toEqual(all);
    // Errors are a tenth: the first candidates after the cutoff hold too few, so the read widens.
    const errors = all.filter((id) => Number(id.slice(1)) % 10 === 3 || long.includes(id));
    expect(await page("limit=1&status=error")).toEqual(errors);
    expect((await list(`${range}&limit=2&status=error`)).traces.map((t: any) => t.traceId)).toEqual(errors.slice(0, 2));
  }, 30_000);

  it.each([
    ["from=abc", "from"],
    ["from=-5", "from"],
    ["from=1e9", "from"],
    ["from=0x10", "from"],
    ["to=", "to"],
    [`from=${BASE + 10}&to=${BASE}`, "from"],
    ["limit=0", "limit"],
    ["limit=1001", "limit"],
    ["limit=99999999999999999999", "limit"],
    ["limit=1.5", "limit"],
    ["limit=%2010", "limit"],
    ["status=maybe", "status"],
    ["minDurationMs=-1", "minDurationMs"],
    ["minDurationMs=NaN", "minDurationMs"],
    ["service=", "service"],
    ["service=a&service=b", "service"],
    ["colour=red", "colour"],
    ["cursor=!!!", "cursor"],
    [`cursor=${Buffer.from("hello").toString("base64url")}`, "cursor"],
    [`cursor=${Buffer.from("99999999999999999999:abc").toString("base64url")}`, "cursor"],
    [`cursor=${"A".repeat(300)}`, "cursor"],
  ])("answers 400 naming the parameter for %s", async (query, param) => {
    const res = await fx.get(`/api/v1/traces?${query}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("bad_request");
    expect(res.body.error.message).toContain(`'${param}'`);
  });

  it("treats SQL in every string filter as a plain value", async () => {
    const spansBefore = await fx.count("otel_traces");
    for (const param of ["service", "agent", "team", "model"]) {
      for (const bad of INJECTIONS) {
        const res = await fx.get(`/api/v1/traces?${RANGE}&${param}=${encodeURIComponent(bad)}`);
        expect(res.status, `${param}=${bad}`).toBe(200);
        expect(res.body.traces, `${param}=${bad}`).toEqual([]);
      }
    }
    const injectedCursor = Buffer.from(`${sec(BASE + 1000)}:x'OR(1=1)--`).toString("base64url");
    const res = await fx.get(`/api/v1/traces?${RANGE}&limit=1000&cursor=${injectedCursor}`);
    expect(res.status).toBe(200);
    // Trace ids are hex, all sorting before "x…": the cursor is compared as a plain string.
    expect(res.body.traces.map((t: any) => t.traceId)).toEqual(expectIds(() => true));
    expect(await fx.count("otel_traces")).toBe(spansBefore);
    expect((await list(`${RANGE}&limit=1000`)).traces).toHaveLength(seeded.length);
  });
});

describe("promptPreview", () => {
  it("takes the last user message of either message shape, as one line", () => {
    expect(
      promptPreview(
        '[{"role":"system","parts":[{"type":"text","content":"sys"}]},{"role":"user","parts":[{"type":"text","content":"a\\nb"}]}]',
      ),
    ).toBe("a b");
    expect(promptPreview('[{"role":"user","content":"first"},{"role":"user","content":"second"}]')).toBe("second");
    expect(promptPreview("plain prompt")).toBe("plain prompt");
    expect(promptPreview("  ")).toBeNull();
  });
  it("reads a prompt cut off mid-JSON and shortens long ones", () => {
    expect(promptPreview('[{"role":"user","parts":[{"type":"text","content":"Refund \\"42\\" now')).toBe(
      'Refund "42" now',
    );
    const long = promptPreview(JSON.stringify([{ role: "user", content: "x".repeat(500) }]));
    expect(long?.length).toBe(160);
    expect(long?.endsWith("…")).toBe(true);
  });
});
