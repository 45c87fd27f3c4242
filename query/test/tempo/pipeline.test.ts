import { describe, expect, it } from "vitest";
import { INJECTIONS, type SpanRow, sec, traceId, useFixture, warningLog } from "../api/fixture.ts";

/**
 * TraceQL pipeline stages on /api/search. Every expected answer below is worked out by hand from
 * Tempo's documented semantics on this data set, not computed from the rows.
 *
 *   T1 (oldest)  s1 root  gateway  2s     server
 *                s2 chat  agent-a  300ms  client  llm.tokens=100   (child of s1)
 *                s3 chat  agent-a  500ms  client  llm.tokens=300   (child of s1)
 *                s4 tool  agent-b  100ms  internal                 (child of s2)
 *   T2           u1 root  gateway  1s     server
 *                u2 chat  agent-a  1.5s   client  llm.tokens=1000  (child of u1)
 *   T3 (newest)  v1 root  gateway  400ms  server
 *                v2 chat  agent-b  200ms  client  llm.tokens=7     (child of v1)
 *                v3 chat  agent-c  250ms  client  llm.tokens=x     (child of v1)
 */
const BASE = 1_760_000_000;
const T1 = traceId(1, "c");
const T2 = traceId(2, "c");
const T3 = traceId(3, "c");
const RANGE = `start=${BASE - 60}&end=${BASE + 600}`;

const span = (
  trace: string,
  id: string,
  parent: string,
  at: number,
  name: string,
  service: string,
  ms: number,
  kind: string,
  tokens?: string,
): SpanRow => ({
  TraceId: trace,
  SpanId: `00000000000000${id}`,
  ParentSpanId: parent ? `00000000000000${parent}` : "",
  startNs: sec(at),
  Duration: ms * 1_000_000,
  SpanName: name,
  SpanKind: kind,
  ServiceName: service,
  ResourceAttributes: { "service.name": service },
  SpanAttributes: tokens === undefined ? {} : { "llm.tokens": tokens },
});

const rows: SpanRow[] = [
  span(T1, "a1", "", BASE, "root", "gateway", 2000, "Server"),
  span(T1, "a2", "a1", BASE + 0.1, "chat", "agent-a", 300, "Client", "100"),
  span(T1, "a3", "a1", BASE + 0.5, "chat", "agent-a", 500, "Client", "300"),
  span(T1, "a4", "a2", BASE + 0.2, "tool", "agent-b", 100, "Internal"),
  span(T2, "b1", "", BASE + 10, "root", "gateway", 1000, "Server"),
  span(T2, "b2", "b1", BASE + 10.1, "chat", "agent-a", 1500, "Client", "1000"),
  span(T3, "c1", "", BASE + 20, "root", "gateway", 400, "Server"),
  span(T3, "c2", "c1", BASE + 20.1, "chat", "agent-b", 200, "Client", "7"),
  span(T3, "c3", "c1", BASE + 20.2, "chat", "agent-c", 250, "Client", "x"),
];

const { log, warnings } = warningLog();
const fixture = useFixture(rows, log);

interface SpanSet {
  spans: { spanID: string; attributes?: { key: string; value: unknown }[] }[];
  matched: number;
  attributes?: { key: string; value: unknown }[];
}

async function search(q: string, extra = "") {
  const res = await fixture().get(`/api/search?q=${encodeURIComponent(q)}&${RANGE}${extra}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.traces as { traceID: string; spanSets: SpanSet[] }[];
}

/** The answer reduced to what the stages decide: per trace (newest first), its spansets' span ids, matched counts and attributes. */
async function shape(q: string, extra = "") {
  return (await search(q, extra)).map((t) => ({
    trace: t.traceID,
    sets: t.spanSets
      .map((s) => ({
        spans: s.spans.map((sp) => sp.spanID.slice(-2)),
        matched: s.matched,
        attrs: s.attributes ?? [],
      }))
      .sort((a, b) => JSON.stringify(a.attrs).localeCompare(JSON.stringify(b.attrs))),
  }));
}

const int = (n: number) => ({ intValue: String(n) });
const str = (s: string) => ({ stringValue: s });
const by = (field: string, value: unknown) => ({ key: `by(${field})`, value });

async function error(q: string, path = "/api/search") {
  const res = await fixture().get(`${path}?q=${encodeURIComponent(q)}&${RANGE}`);
  expect(res.status, q).toBe(400);
  expect(res.body.error.code, q).toBe("bad_request");
  return res.body.error.message as string;
}

describe("TraceQL pipeline stages", () => {
  it("count() keeps the traces whose spanset has that many spans, and names the count", async () => {
    expect(await shape('{ name = "chat" } | count() > 1')).toEqual([
      { trace: T3, sets: [{ spans: ["c2", "c3"], matched: 2, attrs: [{ key: "count()", value: int(2) }] }] },
      { trace: T1, sets: [{ spans: ["a2", "a3"], matched: 2, attrs: [{ key: "count()", value: int(2) }] }] },
    ]);
    expect(await shape('{ name = "chat" } | count() = 1')).toEqual([
      { trace: T2, sets: [{ spans: ["b2"], matched: 1, attrs: [{ key: "count()", value: int(1) }] }] },
    ]);
    expect((await shape("{ } | count() >= 4")).map((t) => t.trace)).toEqual([T1]);
    expect((await shape("{ } | count() != 3")).map((t) => t.trace)).toEqual([T2, T1]);
    expect((await shape("{ } | count() <= 2")).map((t) => t.trace)).toEqual([T2]);
    expect(await shape("{ } | count() > 4")).toEqual([]);
  });

  it("avg, min, max and sum of durations compare with durations and show as durations", async () => {
    // avg: T1 (2000+300+500+100)/4 = 725ms, T2 (1000+1500)/2 = 1.25s, T3 (400+200+250)/3 = 283.333333ms
    expect(await shape("{ } | avg(duration) > 1s")).toEqual([
      {
        trace: T2,
        sets: [{ spans: ["b1", "b2"], matched: 2, attrs: [{ key: "avg(duration)", value: str("1.25s") }] }],
      },
    ]);
    expect((await shape("{ } | avg(duration) < 500ms")).map((t) => t.sets[0].attrs)).toEqual([
      [{ key: "avg(duration)", value: str("283.333333ms") }],
    ]);
    // chat spans: max T1 500ms, T2 1.5s, T3 250ms; min T1 300ms, T2 1.5s, T3 200ms
    expect(await shape('{ name = "chat" } | max(duration) >= 500ms')).toEqual([
      { trace: T2, sets: [{ spans: ["b2"], matched: 1, attrs: [{ key: "max(duration)", value: str("1.5s") }] }] },
      {
        trace: T1,
        sets: [{ spans: ["a2", "a3"], matched: 2, attrs: [{ key: "max(duration)", value: str("500ms") }] }],
      },
    ]);
    expect((await shape('{ name = "chat" } | min(duration) < 250ms')).map((t) => [t.trace, t.sets[0].attrs])).toEqual([
      [T3, [{ key: "min(duration)", value: str("200ms") }]],
    ]);
    // sum over all spans: T1 2.9s, T2 2.5s, T3 850ms
    expect((await shape("{ } | sum(duration) > 2.6s")).map((t) => [t.trace, t.sets[0].attrs])).toEqual([
      [T1, [{ key: "sum(duration)", value: str("2.9s") }]],
    ]);
    // A duration compares with a plain number too, in nanoseconds.
    expect((await shape("{ } | sum(duration) > 2600000000")).map((t) => t.trace)).toEqual([T1]);
  });

  it("aggregates attributes as numbers, skipping spans without a numeric value", async () => {
    // llm.tokens sums: T1 100+300 = 400, T2 1000, T3 7 ("x" is not a number)
    expect((await shape("{ } | sum(span.llm.tokens) > 350")).map((t) => [t.trace, t.sets[0].attrs])).toEqual([
      [T2, [{ key: "sum(span.llm.tokens)", value: int(1000) }]],
      [T1, [{ key: "sum(span.llm.tokens)", value: int(400) }]],
    ]);
    expect((await shape("{ } | sum(.llm.tokens) < 10")).map((t) => [t.trace, t.sets[0].attrs])).toEqual([
      [T3, [{ key: "sum(.llm.tokens)", value: int(7) }]],
    ]);
    // An average of integers is a double: T1 200, T2 1000, T3 7
    expect((await shape("{ } | avg(span.llm.tokens) = 200")).map((t) => [t.trace, t.sets[0].attrs])).toEqual([
      [T1, [{ key: "avg(span.llm.tokens)", value: { doubleValue: 200 } }]],
    ]);
    // The spanset keeps all its spans: the aggregate only decides whether it stays.
    expect((await shape("{ } | max(span.llm.tokens) < 10"))[0].sets[0]).toMatchObject({ matched: 3 });
  });

  it("by() splits each trace's spans into a spanset per value, nil for spans without one", async () => {
    expect(await shape("{ } | by(resource.service.name)")).toEqual([
      {
        trace: T3,
        sets: [
          { spans: ["c1"], matched: 1, attrs: [by("resource.service.name", str("gateway"))] },
          { spans: ["c2"], matched: 1, attrs: [by("resource.service.name", str("agent-b"))] },
          { spans: ["c3"], matched: 1, attrs: [by("resource.service.name", str("agent-c"))] },
        ].sort((a, b) => JSON.stringify(a.attrs).localeCompare(JSON.stringify(b.attrs))),
      },
      {
        trace: T2,
        sets: [
          { spans: ["b2"], matched: 1, attrs: [by("resource.service.name", str("agent-a"))] },
          { spans: ["b1"], matched: 1, attrs: [by("resource.service.name", str("gateway"))] },
        ],
      },
      {
        trace: T1,
        sets: [
          { spans: ["a2", "a3"], matched: 2, attrs: [by("resource.service.name", str("agent-a"))] },
          { spans: ["a4"], matched: 1, attrs: [by("resource.service.name", str("agent-b"))] },
          { spans: ["a1"], matched: 1, attrs: [by("resource.service.name", str("gateway"))] },
        ],
      },
    ]);
    // T1: s1 and s4 have no llm.tokens: together in the "nil" spanset.
    expect(await shape("{ } | by(span.llm.tokens) | count() > 1")).toEqual([
      {
        trace: T1,
        sets: [
          {
            spans: ["a1", "a4"],
            matched: 2,
            attrs: [by("span.llm.tokens", str("nil")), { key: "count()", value: int(2) }],
          },
        ],
      },
    ]);
  });

  it("chains by() with count(), coalesce() and select()", async () => {
    // Only T1 has a service with more than one span (agent-a: s2, s3).
    expect(await shape("{ } | by(resource.service.name) | count() > 1")).toEqual([
      {
        trace: T1,
        sets: [
          {
            spans: ["a2", "a3"],
            matched: 2,
            attrs: [by("resource.service.name", str("agent-a")), { key: "count()", value: int(2) }],
          },
        ],
      },
    ]);
    // coalesce() merges a trace's spansets back into one, without the attributes the stages added.
    expect(await shape("{ kind = client } | by(resource.service.name) | coalesce()")).toEqual([
      { trace: T3, sets: [{ spans: ["c2", "c3"], matched: 2, attrs: [] }] },
      { trace: T2, sets: [{ spans: ["b2"], matched: 1, attrs: [] }] },
      { trace: T1, sets: [{ spans: ["a2", "a3"], matched: 2, attrs: [] }] },
    ]);
    // by → count → coalesce → count: traces with at least two services of one span each.
    expect(await shape("{ } | by(resource.service.name) | count() = 1 | coalesce() | count() > 2")).toEqual([
      { trace: T3, sets: [{ spans: ["c1", "c2", "c3"], matched: 3, attrs: [{ key: "count()", value: int(3) }] }] },
    ]);
    // select() adds the attribute to each span; by() shows the grouped attribute on the spans too.
    const t3 = (await search('{ name = "chat" } | by(resource.service.name) | select(span.llm.tokens)'))[0];
    expect(t3.traceID).toBe(T3);
    const spans = t3.spanSets.flatMap((s) => s.spans).sort((a, b) => a.spanID.localeCompare(b.spanID));
    expect(spans.map((s) => s.attributes)).toEqual(
      [
        [
          { key: "service.name", value: str("agent-b") },
          { key: "llm.tokens", value: str("7") },
        ].sort((a, b) => a.key.localeCompare(b.key)),
        [
          { key: "service.name", value: str("agent-c") },
          { key: "llm.tokens", value: str("x") },
        ].sort((a, b) => a.key.localeCompare(b.key)),
      ].map((attrs) => expect.arrayContaining(attrs)),
    );
  });

  it("applies stages after structural operators and && between spansets", async () => {
    // chat children of a gateway span: T1 s2, s3; T2 u2; T3 v2, v3.
    expect(
      (await shape('{ resource.service.name = "gateway" } > { name = "chat" } | count() > 1')).map((t) => t.trace),
    ).toEqual([T3, T1]);
    // && yields both sides' spans: T1 root + tool = 2, T2 has no tool.
    expect(await shape('{ name = "root" } && { name = "tool" } | count() = 2')).toEqual([
      { trace: T1, sets: [{ spans: ["a1", "a4"], matched: 2, attrs: [{ key: "count()", value: int(2) }] }] },
    ]);
  });

  it("shows at most spss spans per spanset with the full count matched, and at most limit traces", async () => {
    const t1 = (await shape("{ } | by(resource.service.name)", "&spss=1")).find((t) => t.trace === T1);
    expect(t1?.sets[0]).toEqual({ spans: ["a2"], matched: 2, attrs: [by("resource.service.name", str("agent-a"))] });
    expect((await shape('{ name = "chat" } | count() > 1', "&limit=1")).map((t) => t.trace)).toEqual([T3]);
  });

  it("answers stages Grafana's editor sends as typed, with the trace metadata Grafana reads", async () => {
    const res = await fixture().get(
      `/api/search?q=${encodeURIComponent("{} | count() > 2")}&limit=20&spss=3&start=${BASE - 60}&end=${BASE + 600}`,
    );
    expect(res.status).toBe(200);
    expect(res.body.traces).toHaveLength(2); // T1 (4 spans) and T3 (3 spans)
    expect(res.body.traces[1]).toMatchObject({
      traceID: T1,
      rootServiceName: "gateway",
      rootTraceName: "root",
      startTimeUnixNano: String(sec(BASE)),
      durationMs: 2000,
      spanSets: [{ matched: 4, attributes: [{ key: "count()", value: { intValue: "4" } }] }],
    });
    expect(res.body.traces[1].spanSets[0].spans).toHaveLength(3);
    expect(warnings).toEqual([]);
  });
});

describe("TraceQL errors", () => {
  it("answers what it cannot parse or does not support with 400, saying where and what", async () => {
    const cases: [string, RegExp][] = [
      ["{ span.foo = }", /expected a value at position 14/],
      ["{ } | count() >", /expected a number or a duration to compare count\(\) with at the end of the query/],
      ["{ } | count() > 2 |", /expected a pipeline stage .* at the end of the query/],
      ["{ } | count(duration) > 1", /count\(\) takes no argument at position 13/],
      ["{ } | avg(name) > 1", /avg\(\) needs a number, and name is not one at position 11/],
      ['{ } | avg(duration) =~ "1s"', /avg\(\) compares with = != > >= < <=, not =~ at position 21/],
      ['{ } | avg(duration) > "1s"', /expected a number or a duration to compare avg\(\) with at position 23/],
      ["{ } | avg(duration)", /expected a comparison after avg\(\), e.g. avg\(\) > 2 at the end of the query/],
      ["{ } | by(.a, .b)", /by\(\) takes one field at position 14/],
      ["{ } | by()", /expected a field in by\(\) at position 10/],
      ["{ } | coalesce(.a)", /expected \) at position 16/],
      ["{ } | topk(5)", /topk\(\) is not supported at position 7/],
      ["{ } | histogram_over_time(duration)", /histogram_over_time\(\) is not supported at position 7/],
      ["{ } | frobnicate()", /unknown pipeline stage "frobnicate": expected .* at position 7/],
      ['{ link.foo = "x" }', /link.foo is not supported \(no link fields here\) at position 3/],
      ['{ instrumentation.name = "x" }', /instrumentation.name is not supported .* at position 3/],
      ["{ .a = 1 } !> { .b = 2 }", /negated structural operators .* are not supported at position 12/],
      ["{ } | by(event.foo)", /event.foo at position 10 has a value per event, not per span/],
      ["{ } | rate()", /metrics function at position 7 makes a metrics query: ask \/api\/metrics\/query_range/],
      ["{ } | count() > 1 garbage", /unexpected input at position 19/],
    ];
    for (const [q, message] of cases) {
      const m = await error(q);
      expect(m, q).toMatch(/^invalid TraceQL query: /);
      expect(m, q).toMatch(message);
    }
    expect(warnings).toEqual([]);
  });

  it("binds names and values in stages: SQL fragments group as nil and match nothing, the tables stay intact", async () => {
    const before = await fixture().count("otel_traces");
    for (const inj of INJECTIONS) {
      const key = inj.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
      // An attribute nobody has: every span in one "nil" spanset per trace.
      const grouped = await shape(`{ } | by(span."${key}") | count() > 0`);
      expect(
        grouped.map((t) => t.trace),
        inj,
      ).toEqual([T3, T2, T1]);
      expect(grouped[2].sets[0].attrs[0], inj).toEqual(by(`span.${inj}`, str("nil")));
      expect(await shape(`{ } | sum(resource."${key}") > 0`), inj).toEqual([]);
      expect(await shape(`{ span.llm.tokens = "${key}" } | count() > 0`), inj).toEqual([]);
    }
    expect(await fixture().count("otel_traces")).toBe(before);
  });

  it("runs regular expressions in the store's linear-time engine, refusing those it cannot compile", async () => {
    // Catastrophic backtracking in a backtracking engine; linear in RE2.
    expect((await shape(`{ name =~ "(a+)+$" || name =~ "(x|x)*y" } | count() > 0`)).map((t) => t.trace)).toEqual([]);
    expect((await shape(`{ name =~ "(c|h)+at" } | count() > 1`)).map((t) => t.trace)).toEqual([T3, T1]);
    const huge = await fixture().get(
      `/api/search?q=${encodeURIComponent('{ name =~ "((((a{1000}){1000}){1000}){1000})" } | count() > 0')}&${RANGE}`,
    );
    expect(huge.status).toBe(400);
    expect(huge.body.error.message).toMatch(/^invalid TraceQL query: /);
    // Still serving.
    expect((await shape("{ } | count() > 3")).map((t) => t.trace)).toEqual([T1]);
  });
});
