import { describe, expect, it } from "vitest";
import { INJECTIONS, type SpanRow, sec, traceId, useFixture, warningLog } from "../api/fixture.ts";

const now = Math.floor(Date.now() / 1000);
const rows: SpanRow[] = [
  {
    TraceId: traceId(1),
    SpanId: "00000000000000a1",
    startNs: sec(now - 120),
    SpanName: "invoke_agent refund-agent",
    SpanKind: "Internal",
    ServiceName: "support-bot",
    ResourceAttributes: { "service.name": "support-bot", "deployment.environment.name": "prod" },
    AgentName: "refund-agent",
  },
  {
    TraceId: traceId(1),
    SpanId: "00000000000000a2",
    ParentSpanId: "00000000000000a1",
    startNs: sec(now - 119),
    SpanName: "chat gpt-4o",
    SpanKind: "Client",
    ServiceName: "support-bot",
    ResourceAttributes: { "service.name": "support-bot", "deployment.environment.name": "prod" },
    SpanAttributes: { "http.route": "/v1/chat" },
    GenAiRequestModel: "gpt-4o",
    StatusCode: "Error",
  },
  {
    TraceId: traceId(2),
    SpanId: "00000000000000b1",
    startNs: sec(now - 60),
    SpanName: "invoke_agent triage",
    SpanKind: "Server",
    ServiceName: "triage-bot",
    ResourceAttributes: { "service.name": "triage-bot", "deployment.environment.name": "dev" },
    SpanAttributes: { "http.route": "/v1/triage" },
    GenAiRequestModel: "claude-sonnet-4",
  },
];

/** Failed reads are answered leniently (empty, 200) and logged; tests assert none happened. */
const { log, warnings } = warningLog();

const fixture = useFixture(rows, log);

async function ok(path: string) {
  const res = await fixture().get(path);
  expect(res.status, path).toBe(200);
  return res.body;
}

describe("Tempo tag names", () => {
  it("v2 lists resource, span and intrinsic scopes", async () => {
    const body = await ok("/api/v2/search/tags");
    expect(body.scopes.map((s: any) => s.name)).toEqual(["resource", "span", "intrinsic"]);
    const [resource, span, intrinsic] = body.scopes;
    expect(resource.tags).toEqual(["deployment.environment.name", "service.name"]);
    expect(span.tags).toEqual(expect.arrayContaining(["http.route", "gen_ai.request.model", "gen_ai.agent.name"]));
    expect(intrinsic.tags).toEqual([
      "duration",
      "kind",
      "name",
      "status",
      "statusMessage",
      "rootName",
      "rootServiceName",
      "traceDuration",
      "event:name",
      "instrumentation:name",
      "instrumentation:version",
      "span:id",
      "span:parentID",
      "trace:id",
    ]);
    const scoped = await ok("/api/v2/search/tags?scope=span");
    expect(scoped.scopes.map((s: any) => s.name)).toEqual(["span"]);
  });

  it("v1 lists tag names", async () => {
    const body = await ok("/api/search/tags");
    expect(body.tagNames).toEqual(expect.arrayContaining(["service.name", "http.route", "gen_ai.request.model"]));
  });
});

describe("Tempo tag values", () => {
  it("v2 answers typed values for scoped tags and intrinsics, decoding once or twice", async () => {
    const expected = [
      { type: "string", value: "support-bot" },
      { type: "string", value: "triage-bot" },
    ];
    expect((await ok("/api/v2/search/tag/resource.service.name/values")).tagValues).toEqual(expected);
    expect((await ok("/api/v2/search/tag/resource%2Eservice%2Ename/values")).tagValues).toEqual(expected);
    expect((await ok("/api/v2/search/tag/resource%252Eservice%252Ename/values")).tagValues).toEqual(expected);
    expect((await ok("/api/v2/search/tag/span.gen_ai.request.model/values")).tagValues).toEqual([
      { type: "string", value: "claude-sonnet-4" },
      { type: "string", value: "gpt-4o" },
    ]);
    expect((await ok("/api/v2/search/tag/name/values")).tagValues.map((v: any) => v.value)).toEqual([
      "chat gpt-4o",
      "invoke_agent refund-agent",
      "invoke_agent triage",
    ]);
    expect((await ok("/api/v2/search/tag/status/values")).tagValues).toEqual([
      { type: "keyword", value: "error" },
      { type: "keyword", value: "unset" },
    ]);
    expect((await ok("/api/v2/search/tag/span.http.route/values")).tagValues.map((v: any) => v.value)).toEqual([
      "/v1/chat",
      "/v1/triage",
    ]);
    expect((await ok("/api/v2/search/tag/rootServiceName/values")).tagValues.map((v: any) => v.value)).toEqual([
      "support-bot",
      "triage-bot",
    ]);
  });

  it("narrows values by a complete q and ignores a partial one", async () => {
    const q = encodeURIComponent('{ resource.service.name = "triage-bot" }');
    expect((await ok(`/api/v2/search/tag/span.gen_ai.request.model/values?q=${q}`)).tagValues).toEqual([
      { type: "string", value: "claude-sonnet-4" },
    ]);
    const partial = encodeURIComponent('{ resource.service.name = "triage-bot" && span.gen_ai.request.model = ');
    expect((await ok(`/api/v2/search/tag/span.gen_ai.request.model/values?q=${partial}`)).tagValues).toHaveLength(2);
  });

  it("v1 answers plain values, unscoped keys included", async () => {
    expect((await ok("/api/search/tag/service.name/values")).tagValues).toEqual(["support-bot", "triage-bot"]);
    expect((await ok("/api/search/tag/deployment.environment.name/values")).tagValues).toEqual(["dev", "prod"]);
    expect((await ok("/api/search/tag/http.route/values?limit=1")).tagValues).toEqual(["/v1/chat"]);
  });

  it("binds tag keys: SQL fragments answer no values and the tables stay intact", async () => {
    const before = await fixture().count("otel_traces");
    for (const inj of [...INJECTIONS, "x'] OR 1=1 --"]) {
      for (const prefix of ["span.", "resource.", ""]) {
        const tag = encodeURIComponent(`${prefix}${inj}`);
        expect((await ok(`/api/v2/search/tag/${tag}/values`)).tagValues, inj).toEqual([]);
        expect((await ok(`/api/search/tag/${tag}/values`)).tagValues, inj).toEqual([]);
      }
      const q = encodeURIComponent(`{ span.x = "${inj.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}" }`);
      expect((await ok(`/api/v2/search/tag/name/values?q=${q}`)).tagValues, inj).toEqual([]);
    }
    expect(await fixture().count("otel_traces")).toBe(before);
    expect(warnings).toEqual([]);
  });
});
