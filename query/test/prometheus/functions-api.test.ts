import { describe, expect, it } from "vitest";
import { readsOf } from "../../src/api/reads.ts";
import { INJECTIONS, type SpanRow, sec, traceId, useFixture } from "../api/fixture.ts";

/** A whole hour. */
const BASE = 1_699_999_200;
const T = BASE + 600;

/** Model calls: minute, request model, response model, how many. */
const calls: [number, string, string, number][] = [
  [1, "gpt-4o", "gpt-4o-2024-08-06", 3],
  [2, "gpt-4o", "", 2],
  [3, "", "claude-3", 1],
];

let k = 0;
const rows: SpanRow[] = calls.flatMap(([minute, request, response, n]) =>
  Array.from({ length: n }, () => ({
    TraceId: traceId(k, "f"),
    SpanId: `q${k++}`,
    startNs: sec(BASE + minute * 60 + 5),
    Duration: 2_000_000,
    SpanName: "chat",
    ServiceName: "svc",
    TeamName: "red",
    Environment: "prod",
    AgentName: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    GenAiOperation: "chat",
    GenAiProvider: "openai",
    GenAiRequestModel: request,
    GenAiResponseModel: response,
    GenAiUsageRole: "model_call" as const,
    InputTokens: 10,
    OutputTokens: 1,
    Priced: 1,
    CostUsd: 0.01,
  })),
);

const fixture = useFixture(rows);

async function post(path: string, form: Record<string, string>) {
  const res = await fixture().app.request(`/api/v1${path}`, { method: "POST", body: new URLSearchParams(form) });
  return { status: res.status, body: JSON.parse(await res.text()) };
}

/** An instant query's result as `labels => value` lines, sorted. */
async function instant(query: string): Promise<string[]> {
  const r = await post("/query", { query, time: String(T) });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.body.data.resultType).toBe("vector");
  return (r.body.data.result as { metric: Record<string, string>; value: [number, string] }[])
    .map((s) => `${JSON.stringify(Object.entries(s.metric).sort())} => ${s.value[1]}`)
    .sort();
}

const line = (labels: Record<string, string>, v: number) => `${JSON.stringify(Object.entries(labels).sort())} => ${v}`;

/** Statements the store has run so far. */
const statements = () => readsOf(fixture().storage).statements;

describe("request and response model labels", () => {
  it("gen_ai_request_model carries the request model only, gen_ai_response_model the response model", async () => {
    expect(await instant("sum by (gen_ai_request_model) (increase(cognive_llm_calls_total[10m]))")).toEqual(
      [line({}, 1), line({ gen_ai_request_model: "gpt-4o" }, 5)].sort(),
    );
    expect(await instant("sum by (gen_ai_response_model) (increase(cognive_llm_calls_total[10m]))")).toEqual(
      [
        line({}, 2),
        line({ gen_ai_response_model: "claude-3" }, 1),
        line({ gen_ai_response_model: "gpt-4o-2024-08-06" }, 3),
      ].sort(),
    );
    // The histograms carry both too.
    expect(
      await instant(
        'sum by (gen_ai_request_model) (increase(gen_ai_client_operation_duration_seconds_count{gen_ai_response_model!=""}[10m]))',
      ),
    ).toEqual([line({}, 1), line({ gen_ai_request_model: "gpt-4o" }, 3)].sort());
  });

  it("both are listed as labels and have their values", async () => {
    const range = `start=${BASE}&end=${BASE + 3600}`;
    expect((await fixture().get(`/api/v1/labels?${range}`)).body.data).toEqual(
      expect.arrayContaining(["gen_ai_request_model", "gen_ai_response_model"]),
    );
    expect((await fixture().get(`/api/v1/label/gen_ai_response_model/values?${range}`)).body.data).toEqual([
      "claude-3",
      "gpt-4o-2024-08-06",
    ]);
    expect((await fixture().get(`/api/v1/label/gen_ai_request_model/values?${range}`)).body.data).toEqual(["gpt-4o"]);
  });
});

describe("functions through the API", () => {
  it("label_replace derives a label from a stored one", async () => {
    expect(
      await instant(
        'label_replace(sum by (gen_ai_response_model) (increase(cognive_llm_calls_total[10m])), "family", "$1", "gen_ai_response_model", "([a-z]+)-.*")',
      ),
    ).toEqual(
      [
        line({}, 2),
        line({ family: "claude", gen_ai_response_model: "claude-3" }, 1),
        line({ family: "gpt", gen_ai_response_model: "gpt-4o-2024-08-06" }, 3),
      ].sort(),
    );
  });

  it("absent answers 1 with the selector's equality labels only when nothing matches", async () => {
    expect(await instant('absent(cognive_llm_calls_total{agent="nobody", team="red", environment=~"p.*"})')).toEqual([
      line({ agent: "nobody", team: "red" }, 1),
    ]);
    expect(await instant('absent(cognive_llm_calls_total{team="red"})')).toEqual([]);
  });

  it("count_values and absent_over_time", async () => {
    expect(
      await instant('count_values("calls", sum by (gen_ai_response_model) (increase(cognive_llm_calls_total[10m])))'),
    ).toEqual([line({ calls: "1" }, 1), line({ calls: "2" }, 1), line({ calls: "3" }, 1)].sort());
    expect(await instant('absent_over_time(cognive_llm_calls_total{team="blue"}[10m])')).toEqual([
      line({ team: "blue" }, 1),
    ]);
  });

  it("sum_over_time of calls in a range query", async () => {
    // The counter's samples at minutes 1…4 (reading starts before the first call): 3, 5, 6, 6.
    const r = await post("/query_range", {
      query: "sum(sum_over_time(cognive_llm_calls_total[4m]))",
      start: String(BASE + 240),
      end: String(BASE + 240),
      step: "60",
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.data.result[0].values).toEqual([[BASE + 240, "20"]]);
  });
});

describe("queries that cannot run read nothing", () => {
  it.each([
    ["unknown function", "/query", "nope(cognive_llm_calls_total)", /unknown function with name "nope"/],
    ["wrong argument type", "/query", "rate(cognive_llm_calls_total)", /expected type range vector/],
    [
      "bad regex in label_replace",
      "/query",
      'label_replace(cognive_llm_calls_total, "a", "$1", "agent", "(")',
      /invalid regular expression/,
    ],
    [
      "wrong argument count",
      "/query",
      'label_replace(cognive_llm_calls_total, "a", "$1", "agent")',
      /expected 5 argument/,
    ],
    ["a range vector as a range query's result", "/query_range", "cognive_llm_calls_total[5m]", /range vector/],
    ["a regex RE2 refuses in a matcher", "/query", 'cognive_llm_calls_total{agent=~"a{1,5000}"}', /invalid regular/],
  ])("%s: 400 bad_data and no storage statement", async (_, path, query, message) => {
    const before = statements();
    const r = await post(path, { query, time: String(T), start: String(T), end: String(T), step: "60" });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ status: "error", errorType: "bad_data" });
    expect(r.body.error).toMatch(message);
    expect(statements() - before).toBe(0);
  });

  it("a query that can run does read (the counter counts)", async () => {
    const before = statements();
    await instant("sum(rate(cognive_llm_calls_total[5m]))");
    expect(statements() - before).toBeGreaterThan(0);
  });
});

describe("hostile input", () => {
  it("deep nesting of functions is refused while parsing", async () => {
    const before = statements();
    const deep = `${"label_replace(".repeat(70)}cognive_llm_calls_total${', "a", "b", "c", "d")'.repeat(70)}`;
    const r = await post("/query", { query: deep, time: String(T) });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/nested deeper than 64 levels/);
    const sorts = `${"sort(".repeat(100)}cognive_llm_calls_total${")".repeat(100)}`;
    expect((await post("/query", { query: sorts, time: String(T) })).status).toBe(400);
    expect(statements() - before).toBe(0);
  });

  it("huge and backtracking-prone regexes are refused or run in linear time", async () => {
    // Nested too deep for RE2: refused before any read.
    const before = statements();
    const nested = `label_replace(cognive_llm_calls_total, "a", "$1", "agent", "${"(".repeat(1500)}a${")".repeat(1500)}")`;
    const r = await post("/query", { query: nested, time: String(T) });
    expect(r.status).toBe(400);
    expect(statements() - before).toBe(0);
    // Exponential for a backtracking engine on the stored 44 a's; RE2 answers it.
    const evil = await instant(
      'label_replace(sum by (agent) (cognive_llm_calls_total), "x", "y", "agent", "(a*)*b") or label_replace(sum by (agent) (cognive_llm_calls_total), "x", "y", "agent", "(a|aa)+")',
    );
    // The first does not match (so leaves its series as is), the second does.
    const agent = rows[0].AgentName as string;
    expect(evil).toEqual([line({ agent }, 6), line({ agent, x: "y" }, 6)].sort());
  });

  it("injection in matchers on the new label and in label_replace arguments never reaches SQL", async () => {
    const before = await fixture().count("llm_rollup_1m");
    for (const s of INJECTIONS) {
      const v = JSON.stringify(s);
      for (const op of ["=", "=~"]) {
        const r = await post("/query", {
          query: `cognive_llm_calls_total{gen_ai_response_model${op}${v}}`,
          time: String(T),
        });
        expect([200, 400]).toContain(r.status);
        if (r.status === 200) expect(r.body.data.result).toEqual([]);
      }
      // A replacement is only ever a label value; a source or destination that is not a label name is refused.
      const replaced = await instant(
        `label_replace(sum by (team) (cognive_llm_calls_total{team="red"}), "note", ${v}, "team", ".*")`,
      );
      expect(replaced).toEqual([line({ note: s, team: "red" }, 6)]);
      for (const q of [
        `label_replace(cognive_llm_calls_total, ${v}, "x", "team", ".*")`,
        `label_join(cognive_llm_calls_total, "x", "-", ${v})`,
        `count_values(${v}, cognive_llm_calls_total)`,
      ]) {
        const r = await post("/query", { query: q, time: String(T) });
        expect(r.status, q).toBe(400);
        expect(r.body.errorType).toBe("bad_data");
      }
    }
    expect(await fixture().count("llm_rollup_1m")).toBe(before);
    expect(await fixture().count("otel_traces")).toBe(rows.length);
  });
});
