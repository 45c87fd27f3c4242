import { describe, expect, it } from "vitest";
import { INJECTIONS, type SpanRow, sec, traceId, useFixture } from "../api/fixture.ts";

// TraceQL metrics (`/api/metrics/query_range`), checked against values computed here from the rows.
const BASE = 1_770_000_000; // a whole minute
const MODELS = ["gpt-4o", "claude-sonnet-4", "gpt-4o-mini"];

interface Seed {
  minute: number;
  model: string;
  durationMs: number;
  service: string;
}
// 3 minutes, 5 calls per minute with varied models, durations and services.
const seeds: Seed[] = Array.from({ length: 15 }, (_, i) => ({
  minute: Math.floor(i / 5),
  model: MODELS[(i * 7) % 3],
  durationMs: 100 + ((i * 137) % 900),
  service: i % 4 === 0 ? "triage-bot" : "support-bot",
}));

const rows: SpanRow[] = seeds.flatMap((s, i) => [
  {
    TraceId: traceId(500 + i),
    SpanId: `${String(i).padStart(14, "0")}01`,
    startNs: sec(BASE + s.minute * 60 + (i % 5) * 7),
    Duration: 2_000_000_000,
    SpanName: "invoke_agent a",
    SpanKind: "Internal",
    ServiceName: s.service,
  },
  {
    TraceId: traceId(500 + i),
    SpanId: `${String(i).padStart(14, "0")}02`,
    ParentSpanId: `${String(i).padStart(14, "0")}01`,
    startNs: sec(BASE + s.minute * 60 + (i % 5) * 7 + 1),
    Duration: s.durationMs * 1_000_000,
    SpanName: `chat ${s.model}`,
    SpanKind: "Client",
    ServiceName: s.service,
    GenAiRequestModel: s.model,
    GenAiUsageRole: "model_call",
    InputTokens: 10 * (i + 1),
  },
]);

const fixture = useFixture(rows);

const RANGE = `start=${BASE}&end=${BASE + 180}&step=60s`;
async function metrics(q: string, range = RANGE) {
  return fixture().get(`/api/metrics/query_range?q=${encodeURIComponent(q)}&${range}`);
}
const label = (s: any, key: string) => s.labels.find((l: any) => l.key === key)?.value;
const ms = (minute: number) => String((BASE + minute * 60) * 1000);

describe("TraceQL metrics", () => {
  it("counts matching spans per step, with a sample at every step", async () => {
    const r = await metrics("{ kind = client } | count_over_time()");
    expect(r.status).toBe(200);
    expect(r.body.series).toHaveLength(1);
    expect(r.body.series[0].labels).toEqual([]);
    expect(r.body.series[0].samples).toEqual(
      [0, 1, 2].map((m) => ({ timestampMs: ms(m), value: seeds.filter((s) => s.minute === m).length })),
    );
    const wide = await metrics("{ kind = client } | count_over_time()", `start=${BASE}&end=${BASE + 300}&step=60`);
    expect(wide.body.series[0].samples.at(-1)).toEqual({ timestampMs: ms(4), value: 0 });
  });

  it("rates by a GenAI attribute, per second of step", async () => {
    const r = await metrics("{ span.gen_ai.request.model != nil } | rate() by (span.gen_ai.request.model)");
    expect(r.status).toBe(200);
    const byModel = new Map(r.body.series.map((s: any) => [label(s, "span.gen_ai.request.model").stringValue, s]));
    expect([...byModel.keys()].sort()).toEqual([...MODELS].sort());
    for (const model of MODELS) {
      const samples = (byModel.get(model) as any).samples;
      expect(samples).toEqual(
        [0, 1, 2].map((m) => ({
          timestampMs: ms(m),
          value: seeds.filter((s) => s.minute === m && s.model === model).length / 60,
        })),
      );
    }
  });

  it("measures durations in seconds: quantiles, average, maximum, by service", async () => {
    const durations = (m: number, svc?: string) =>
      seeds.filter((s) => s.minute === m && (!svc || s.service === svc)).map((s) => s.durationMs / 1000);
    const exact = (values: number[], q: number) => {
      const sorted = [...values].sort((a, b) => a - b);
      return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    };
    const q = await metrics("{ kind = client } | quantile_over_time(duration, .5, 0.9)");
    expect(q.status).toBe(200);
    expect(q.body.series.map((s: any) => label(s, "p").doubleValue)).toEqual([0.5, 0.9]);
    for (const s of q.body.series) {
      const p = label(s, "p").doubleValue;
      for (const [i, sample] of s.samples.entries()) expect(sample.value).toBeCloseTo(exact(durations(i), p), 9);
    }
    const avg = await metrics("{ kind = client } | avg_over_time(duration) by (resource.service.name)");
    for (const s of avg.body.series) {
      const svc = label(s, "resource.service.name").stringValue;
      for (const sample of s.samples) {
        const m = (Number(sample.timestampMs) / 1000 - BASE) / 60;
        const d = durations(m, svc);
        expect(sample.value).toBeCloseTo(d.reduce((a, b) => a + b, 0) / d.length, 9);
      }
    }
    const max = await metrics("{ kind = client } | max_over_time(span.gen_ai.usage.input_tokens)");
    expect(max.body.series[0].samples.map((s: any) => s.value)).toEqual([50, 100, 150]);
  });

  it("takes start and end in seconds, milliseconds, nanoseconds or RFC 3339", async () => {
    const q = "{ kind = client } | count_over_time()";
    const s = await metrics(q);
    for (const range of [
      `start=${BASE * 1000}&end=${(BASE + 180) * 1000}&step=60s`,
      `start=${BASE}000000000&end=${BASE + 180}000000000&step=1m`,
      `start=${new Date(BASE * 1000).toISOString()}&end=${new Date((BASE + 180) * 1000).toISOString()}&step=60`,
    ]) {
      expect((await metrics(q, range)).body).toEqual(s.body);
    }
  });

  it("answers 400 with a reason for what it cannot run", async () => {
    for (const q of [
      "{ kind = client }",
      "{ kind = client } | rate(",
      "{ kind = client } | quantile_over_time(duration)",
      "{ kind = client } | quantile_over_time(duration, 1.5)",
      "{ a = 1 } && { b = 2 } | rate()",
      "{ traceDuration > 1s } | rate()",
      "{ } | rate() by (rootName)",
      "{ } | avg_over_time(name)",
    ]) {
      const r = await metrics(q);
      expect(r.status, q).toBe(400);
      expect(r.body.error.message).toMatch(/TraceQL metrics/);
    }
    const tooMany = await metrics("{} | rate()", `start=${BASE - 86_400 * 30}&end=${BASE}&step=1s`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.message).toMatch(/too many points/);
    expect((await metrics("{} | rate()", `start=${BASE}&end=${BASE}&step=60`)).status).toBe(400);
    expect((await metrics("{} | rate()", `start=yesterday&end=${BASE}`)).status).toBe(400);
  });

  it("binds hostile values and keys: they match nothing and the table stays intact", async () => {
    const before = await fixture().count("otel_traces");
    for (const s of INJECTIONS) {
      const str = JSON.stringify(s);
      for (const q of [`{ span.gen_ai.request.model = ${str} } | rate()`, `{ } | rate() by (span.${str})`]) {
        const r = await metrics(q);
        expect([200, 400], q).toContain(r.status);
        if (r.status === 200 && q.startsWith("{ span"))
          expect(r.body.series.flatMap((x: any) => x.samples).every((x: any) => x.value === 0)).toBe(true);
      }
    }
    expect(await fixture().count("otel_traces")).toBe(before);
  });
});

describe("TraceQL metrics errors", () => {
  it("names where a metrics query goes wrong and what is not supported", async () => {
    const cases: [string, RegExp][] = [
      ["{ kind = client }", /not a metrics query: .* at the end of the query/],
      ["{ .a = 1 } && { .b = 2 } | rate()", /several spanset filters \(&& at position 12\) are not supported/],
      ["{ .a = 1 } > { .b = 2 } | rate()", /several spanset filters \(a structural operator at position 12\)/],
      ["{ } | count() > 1 | rate()", /pipeline stages before a metrics function \(count\(\) at position 7\)/],
      ["{ traceDuration > 1s } | rate()", /traceDuration at position 3 is a whole-trace field/],
      ["{ } | rate() by (rootName)", /rootName at position 18: metrics queries group on span fields only/],
      ["{ } | avg_over_time(name)", /name at position 21 is not a number to aggregate/],
      ["{ } | avg_over_time(event.x)", /event.x at position 21 has a value per event/],
      ["{ } | rate() | select(.a)", /nothing may follow a metrics function at position 14/],
      ["{ } | histogram_over_time(duration)", /histogram_over_time\(\) is not supported at position 7/],
      ["{ } | rate(", /expected \) at the end of the query/],
      ['{ name =~ "(?=chat)" } | rate()', /RE2/],
    ];
    for (const [q, message] of cases) {
      for (const path of ["/api/metrics/query_range", "/api/metrics/query"]) {
        const r = await fixture().get(`${path}?q=${encodeURIComponent(q)}&start=${BASE}&end=${BASE + 180}`);
        expect(r.status, `${path} ${q}`).toBe(400);
        expect(r.body.error.message, `${path} ${q}`).toMatch(/^invalid TraceQL metrics query: /);
        expect(r.body.error.message, `${path} ${q}`).toMatch(message);
      }
    }
  });
});

describe("Instant TraceQL metrics (/api/metrics/query)", () => {
  // Over [BASE, BASE+180): 15 client spans; models 5 each; services triage-bot (i = 0, 4, 8, 12) 4
  // and support-bot 11; input tokens at most 150; durations 100 + (137 i mod 900) ms, at most 981 ms (i = 13).
  const WHOLE = `start=${BASE}&end=${BASE + 180}`;
  async function instant(params: string) {
    const r = await fixture().get(`/api/metrics/query?${params}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  }
  const q = (s: string) => `q=${encodeURIComponent(s)}`;
  const byLabel = (series: any[]) =>
    [...series].sort((a, b) =>
      String(a.labels?.[0]?.value.stringValue).localeCompare(b.labels?.[0]?.value.stringValue),
    );

  it("answers one value per series over the whole range, in Tempo's JSON", async () => {
    expect(await instant(`${q("{ kind = client } | count_over_time()")}&${WHOLE}`)).toEqual({
      series: [{ value: 15 }],
      metrics: {},
    });
    const bySvc = await instant(`${q("{ kind = client } | count_over_time() by (resource.service.name)")}&${WHOLE}`);
    expect(byLabel(bySvc.series)).toEqual([
      { labels: [{ key: "resource.service.name", value: { stringValue: "support-bot" } }], value: 11 },
      { labels: [{ key: "resource.service.name", value: { stringValue: "triage-bot" } }], value: 4 },
    ]);
    const rate = await instant(`${q("{ kind = client } | rate()")}&${WHOLE}`);
    expect(rate.series[0].value).toBeCloseTo(15 / 180, 12);
    expect((await instant(`${q("{ } | max_over_time(span.gen_ai.usage.input_tokens)")}&${WHOLE}`)).series).toEqual([
      { value: 150 },
    ]);
    expect((await instant(`${q("{ kind = client } | max_over_time(duration)")}&${WHOLE}`)).series).toEqual([
      { value: 0.981 },
    ]);
    const models = await instant(
      `${q("{ kind = client } | count_over_time() by (span.gen_ai.request.model)")}&${WHOLE}`,
    );
    expect(models.series.map((s: any) => s.value)).toEqual([5, 5, 5]);
    expect(await instant(`${q('{ name = "nothing" } | count_over_time()')}&${WHOLE}`)).toEqual({
      series: [],
      metrics: {},
    });
  });

  it("reads the query from q or, as Grafana sends it, query (q wins), and start, end and since as Tempo does", async () => {
    const expected = { series: [{ value: 15 }], metrics: {} };
    const text = "{ kind = client } | count_over_time()";
    expect(await instant(`query=${encodeURIComponent(text)}&${WHOLE}`)).toEqual(expected);
    expect(await instant(`query=${encodeURIComponent("{ broken")}&${q(text)}&${WHOLE}`)).toEqual(expected);
    for (const range of [
      `start=${BASE}.0&end=${BASE + 180}.0`,
      `start=${BASE}000000000&end=${BASE + 180}000000000`,
      `start=${new Date(BASE * 1000).toISOString()}&end=${new Date((BASE + 180) * 1000).toISOString()}`,
      `end=${BASE + 180}&since=3m`,
    ]) {
      expect(await instant(`${q(text)}&${range}`), range).toEqual(expected);
    }
    // since=2m: [BASE+60, BASE+180) holds minutes 1 and 2, 10 calls.
    expect(await instant(`${q(text)}&end=${BASE + 180}&since=2m`)).toEqual({ series: [{ value: 10 }], metrics: {} });
  });

  it("refuses bad ranges and hostile input with 400, and the table stays intact", async () => {
    const text = q("{} | rate()");
    for (const params of [
      `${text}&start=${BASE}&end=${BASE}`,
      `${text}&start=${BASE + 10}&end=${BASE}`,
      `${text}&start=yesterday&end=${BASE}`,
      `${text}&end=${BASE}&since=forever`,
      // More conditions than a query may hold.
      `q=${encodeURIComponent(`{ ${".a = 1 && ".repeat(101)}.a = 1 } | rate()`)}&${WHOLE}`,
    ]) {
      const r = await fixture().get(`/api/metrics/query?${params}`);
      expect(r.status, params.slice(0, 80)).toBe(400);
    }
    const before = await fixture().count("otel_traces");
    for (const s of INJECTIONS) {
      const str = JSON.stringify(s);
      const r = await fixture().get(
        `/api/metrics/query?${q(`{ span.gen_ai.request.model = ${str} } | count_over_time() by (span.${str})`)}&${WHOLE}`,
      );
      expect(r.status, s).toBe(200);
      expect(r.body.series, s).toEqual([]);
    }
    expect(await fixture().count("otel_traces")).toBe(before);
  });
});
