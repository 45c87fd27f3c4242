import { ATTR_TYPE } from "@cognive/semconv";
import { describe, expect, it } from "vitest";
import { INJECTIONS, type SpanRow, sec, traceId, useFixture } from "../api/fixture.ts";

// TraceQL's event, instrumentation and id fields: `event:name`, `event.<attr>`, `instrumentation:name`,
// `instrumentation:version`, `span:id`, `span:parentID`, `trace:id`.
const BASE = 1_780_000_000;
const A = traceId(71);
const B = traceId(72);
const RANGE = `start=${BASE - 60}&end=${BASE + 600}`;

const rows: SpanRow[] = [
  { TraceId: A, SpanId: "00000000000000a1", startNs: sec(BASE), SpanName: "invoke_agent a", ServiceName: "bot" },
  {
    TraceId: A,
    SpanId: "00000000000000a2",
    ParentSpanId: "00000000000000a1",
    startNs: sec(BASE + 1),
    SpanName: "chat gpt-4o",
    ServiceName: "bot",
    ScopeName: "openinference.instrumentation.openai",
    ScopeVersion: "0.1.21",
    events: [
      { timeNs: sec(BASE + 1.2), name: "gen_ai.content.prompt", attributes: {} },
      {
        timeNs: sec(BASE + 1.5),
        name: "exception",
        attributes: { "exception.type": "RateLimitError", "exception.message": "429" },
      },
    ],
  },
  {
    TraceId: B,
    SpanId: "00000000000000b1",
    startNs: sec(BASE + 100),
    SpanName: "invoke_agent b",
    ServiceName: "bot",
    ScopeName: "@cognive/sdk",
    ScopeVersion: "1.0.0",
    events: [
      { timeNs: sec(BASE + 100.5), name: "retry", attributes: { attempt: "2" }, types: { attempt: ATTR_TYPE.int } },
    ],
  },
];

const fixture = useFixture(rows);

async function ids(q: string): Promise<string[]> {
  const res = await fixture().get(`/api/search?q=${encodeURIComponent(q)}&${RANGE}`);
  expect(res.status).toBe(200);
  return res.body.traces.map((t: any) => t.traceID).sort();
}

describe("TraceQL event, instrumentation and id fields", () => {
  it("matches a span when one of its events matches", async () => {
    expect(await ids('{ event:name = "exception" }')).toEqual([A]);
    expect(await ids('{ event.exception.type = "RateLimitError" }')).toEqual([A]);
    expect(await ids('{ event.exception.type = "RateLimitError" && name = "chat gpt-4o" }')).toEqual([A]);
    expect(await ids('{ event.exception.type = "RateLimitError" && name = "invoke_agent a" }')).toEqual([]);
    expect(await ids("{ event.attempt >= 2 }")).toEqual([B]);
    expect(await ids('{ event:name =~ "gen_ai\\\\..*|retry" }')).toEqual([A, B]);
    expect(await ids("{ event.exception.type != nil }")).toEqual([A]);
    // no event of B's only span carries it; A's root span has no events at all
    expect(await ids('{ event.exception.type = nil && name = "invoke_agent b" }')).toEqual([B]);
    expect(await ids('{ event:name = nil && name =~ "invoke_agent.*" }')).toEqual([A]);
  });

  it("matches the instrumentation scope and the ids", async () => {
    expect(await ids('{ instrumentation:name = "openinference.instrumentation.openai" }')).toEqual([A]);
    expect(await ids('{ instrumentation:version =~ "1\\\\..*" }')).toEqual([B]);
    expect(await ids(`{ trace:id = "${B}" }`)).toEqual([B]);
    expect(await ids('{ span:id = "00000000000000a2" }')).toEqual([A]);
    expect(await ids('{ span:parentID = "00000000000000a1" }')).toEqual([A]);
  });

  it("lists them among the intrinsics and answers their values", async () => {
    const tags = await fixture().get("/api/v2/search/tags?scope=intrinsic");
    expect(tags.body.scopes[0].tags).toEqual(expect.arrayContaining(["event:name", "instrumentation:name", "span:id"]));
    const values = async (tag: string) =>
      (await fixture().get(`/api/v2/search/tag/${encodeURIComponent(tag)}/values?${RANGE}`)).body.tagValues.map(
        (v: any) => v.value,
      );
    expect(await values("event:name")).toEqual(["exception", "gen_ai.content.prompt", "retry"]);
    expect(await values("event.exception.type")).toEqual(["RateLimitError"]);
    expect(await values("instrumentation:name")).toEqual(["@cognive/sdk", "openinference.instrumentation.openai"]);
    expect(await values("span:id")).toEqual([]);
  });

  it("keeps per-event fields out of what needs one value per span", async () => {
    const sel = await fixture().get(
      `/api/search?q=${encodeURIComponent('{ event:name = "exception" } | select(event.exception.type)')}&${RANGE}`,
    );
    expect(sel.status).toBe(200);
    expect(sel.body.traces.map((t: any) => t.traceID)).toEqual([A]);
    const metrics = (q: string) =>
      fixture().get(`/api/metrics/query_range?q=${encodeURIComponent(q)}&start=${BASE - 60}&end=${BASE + 600}&step=60`);
    const counted = await metrics('{ event:name = "exception" } | count_over_time()');
    expect(counted.status).toBe(200);
    expect(counted.body.series[0].samples.reduce((n: number, s: any) => n + s.value, 0)).toBe(1);
    expect((await metrics("{ } | rate() by (event:name)")).status).toBe(400);
    expect((await metrics("{ } | sum_over_time(event.attempt)")).status).toBe(400);
  });

  it("binds hostile event keys and values", async () => {
    const before = await fixture().count("otel_traces");
    for (const s of INJECTIONS) {
      expect(await ids(`{ event.${JSON.stringify(s)} = ${JSON.stringify(s)} }`)).toEqual([]);
      expect(await ids(`{ event:name = ${JSON.stringify(s)} }`)).toEqual([]);
    }
    expect(await fixture().count("otel_traces")).toBe(before);
  });
});
