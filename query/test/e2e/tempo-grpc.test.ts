import { randomBytes } from "node:crypto";
import http, { createServer } from "node:http";
import http2 from "node:http2";
import { connect, type Socket } from "node:net";
import { generateKey } from "@cognive/collector";
import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs/minimal.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GRPC_ROUTES, ROUTE_PERMISSIONS } from "../../src/api/permissions.ts";
import { H2_PREFACE, shareWithH2 } from "../../src/shared-port.ts";
import { PACKET_BYTES, packets, STREAMING_METHODS, streamingRoot } from "../../src/tempo/streaming.ts";
import { agentRunBody } from "../helpers/agent-run.ts";
import { postRaw } from "../helpers/http.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { STREAMING_METHOD_NAMES, streamingClient } from "../helpers/tempo-grpc.ts";

// Tempo's streaming gRPC API on the query port, with a grpc-js client, against the HTTP API's answers.
const ADMIN = generateKey().key;
const nowS = () => Math.floor(Date.now() / 1000);
const S_TO_NS = 1_000_000_000n;

let server: TestServer;
let client: ReturnType<typeof streamingClient>;
const keys: Record<string, string> = {};
const runs = [
  { traceId: randomBytes(16).toString("hex"), service: "svc-alpha", agent: "triage", model: "gpt-4o" },
  { traceId: randomBytes(16).toString("hex"), service: "svc-alpha", agent: "triage", model: "gpt-4o" },
  { traceId: randomBytes(16).toString("hex"), service: "svc-beta", agent: "support", model: "claude-sonnet-4" },
];
let range: { start: number; end: number };

/** What Grafana's backend sends with every streaming call (the key as Basic auth's password). */
const grafana = (key = ADMIN) => ({
  authorization: `Basic ${Buffer.from(`grafana:${key}`).toString("base64")}`,
  "x-scope-orgid": "tenant-1",
  "user-agent": "Grafana/12.1.0",
});

async function httpJson(path: string, key = ADMIN): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.queryUrl}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  server = await startTestServer({ COGNIVE_AUTH: "required", COGNIVE_ADMIN_KEY: ADMIN });
  client = streamingClient(server.queryUrl);
  const create = async (name: string, role: string, extra: Record<string, unknown> = {}) => {
    const res = await fetch(`${server.queryUrl}/api/v1/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify({ name, role, teams: "all", ...extra }),
    });
    expect(res.status).toBe(201);
    keys[name] = (await res.json()).key;
  };
  await create("ingest", "ingest", { teams: ["alpha"] });
  await create("viewer", "viewer");
  await create("slow", "viewer", { rateLimit: { requestsPerSecond: 1 } });
  for (const run of runs) {
    const res = await postRaw(`${server.otlpUrl}/v1/traces`, agentRunBody(run), {
      "content-type": "application/json",
      authorization: `Bearer ${keys.ingest}`,
    });
    expect(res.status).toBe(200);
  }
  range = { start: nowS() - 3600, end: nowS() + 60 };
}, 60_000);

afterAll(async () => {
  client?.close();
  await server?.stop();
});

describe("Search", () => {
  it("returns the traces /api/search returns for the same query, in one or more packets then OK", async () => {
    for (const q of ["{}", '{ span.gen_ai.request.model = "gpt-4o" }', '{ resource.service.name = "svc-beta" }']) {
      const viaHttp = await httpJson(
        `/api/search?q=${encodeURIComponent(q)}&start=${range.start}&end=${range.end}&limit=20&spss=3`,
      );
      expect(viaHttp.status).toBe(200);
      const answer = await client.call(
        "Search",
        { Query: q, start: range.start, end: range.end, Limit: 20, SpansPerSpanSet: 3 },
        grafana(),
      );
      expect(answer.code, answer.details).toBe(grpc.status.OK);
      const traces = answer.messages.flatMap((m) => m.traces ?? []);
      // The protobuf answer carries the JSON answer's fields (uint64 as decimal strings, as in the JSON).
      expect(traces).toEqual(viaHttp.body.traces);
      expect(answer.messages.at(-1)?.metrics?.inspectedTraces).toBe(viaHttp.body.metrics.inspectedTraces);
    }
    const all = await client.call("Search", { Query: "{}", start: range.start, end: range.end }, grafana());
    expect(all.messages.flatMap((m) => m.traces.map((t: { traceID: string }) => t.traceID)).sort()).toEqual(
      runs.map((r) => r.traceId).sort(),
    );
    const beta = await client.call(
      "Search",
      { Query: '{ resource.service.name = "svc-beta" }', start: range.start, end: range.end },
      grafana(),
    );
    expect(beta.messages.flatMap((m) => m.traces.map((t: { traceID: string }) => t.traceID))).toEqual([
      runs[2].traceId,
    ]);
  });

  it("takes the pre-TraceQL form (Tags, MinDurationMs) as /api/search?tags= does", async () => {
    const answer = await client.call(
      "Search",
      { Tags: { "service.name": "svc-alpha" }, MinDurationMs: 1, start: range.start, end: range.end },
      grafana(),
    );
    expect(answer.code, answer.details).toBe(grpc.status.OK);
    const ids = answer.messages.flatMap((m) => m.traces.map((t: { traceID: string }) => t.traceID)).sort();
    expect(ids).toEqual([runs[0].traceId, runs[1].traceId].sort());
    const none = await client.call("Search", { MinDurationMs: 60_000, start: range.start, end: range.end }, grafana());
    expect(none.code).toBe(grpc.status.OK);
    expect(none.messages.flatMap((m) => m.traces ?? [])).toEqual([]);
  });

  it("answers a TraceQL error with INVALID_ARGUMENT and the positioned message /api/search gives", async () => {
    for (const q of ["{ span.foo = }", "{ .a = 1 } | nonsense()", "{ .a = 1 } } "]) {
      const viaHttp = await httpJson(`/api/search?q=${encodeURIComponent(q)}&start=${range.start}&end=${range.end}`);
      expect(viaHttp.status).toBe(400);
      const answer = await client.call("Search", { Query: q, start: range.start, end: range.end }, grafana());
      expect(answer.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(answer.details).toBe(viaHttp.body.error.message);
      expect(answer.details).toMatch(/^invalid TraceQL query: .*(at position \d+|at the end of the query)/);
      expect(answer.messages).toEqual([]);
    }
  });
});

describe("tags and tag values", () => {
  it("answers as /api/search/tags and /api/v2/search/tags", async () => {
    const v1 = await client.call("SearchTags", { start: range.start, end: range.end }, grafana());
    expect(v1.code, v1.details).toBe(grpc.status.OK);
    const http1 = await httpJson(`/api/search/tags?start=${range.start}&end=${range.end}`);
    expect(v1.messages.flatMap((m) => m.tagNames)).toEqual(http1.body.tagNames);
    expect(v1.messages.flatMap((m) => m.tagNames)).toContain("gen_ai.request.model");

    const v2 = await client.call("SearchTagsV2", { start: range.start, end: range.end }, grafana());
    const http2Tags = await httpJson(`/api/v2/search/tags?start=${range.start}&end=${range.end}`);
    expect(v2.messages.flatMap((m) => m.scopes)).toEqual(http2Tags.body.scopes);
    const span = await client.call("SearchTagsV2", { scope: "span", start: range.start, end: range.end }, grafana());
    expect(span.messages.flatMap((m) => m.scopes.map((s: { name: string }) => s.name))).toEqual(["span"]);
  });

  it("answers tag values as /api/search/tag/…/values and /api/v2/…, narrowed by a query", async () => {
    const v1 = await client.call(
      "SearchTagValues",
      { tagName: "service.name", start: range.start, end: range.end },
      grafana(),
    );
    expect(v1.code, v1.details).toBe(grpc.status.OK);
    expect(v1.messages.flatMap((m) => m.tagValues ?? [])).toEqual(["svc-alpha", "svc-beta"]);
    const v2 = await client.call(
      "SearchTagValuesV2",
      { tagName: "span.gen_ai.request.model", start: range.start, end: range.end },
      grafana(),
    );
    const viaHttp = await httpJson(
      `/api/v2/search/tag/span.gen_ai.request.model/values?start=${range.start}&end=${range.end}`,
    );
    expect(v2.messages.flatMap((m) => m.tagValues ?? [])).toEqual(viaHttp.body.tagValues);
    expect(v2.messages.flatMap((m) => (m.tagValues ?? []).map((v: { value: string }) => v.value))).toEqual([
      "claude-sonnet-4",
      "gpt-4o",
    ]);
    const narrowed = await client.call(
      "SearchTagValuesV2",
      {
        tagName: "span.gen_ai.request.model",
        query: '{ resource.service.name = "svc-beta" }',
        start: range.start,
        end: range.end,
      },
      grafana(),
    );
    expect(narrowed.messages.flatMap((m) => (m.tagValues ?? []).map((v: { value: string }) => v.value))).toEqual([
      "claude-sonnet-4",
    ]);
    // A tag with a slash or percent sign in its name is one path segment, not two.
    const odd = await client.call("SearchTagValuesV2", { tagName: "span.a/b%2F", start: range.start }, grafana());
    expect(odd.code, odd.details).toBe(grpc.status.OK);
    expect(odd.messages.flatMap((m) => m.tagValues ?? [])).toEqual([]);
    const missing = await client.call("SearchTagValuesV2", {}, grafana());
    expect(missing.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe("TraceQL metrics", () => {
  const q = '{ span.gen_ai.operation.name = "chat" } | count_over_time() by (resource.service.name)';

  it("answers MetricsQueryRange as /api/metrics/query_range (times in ns, step in ns)", async () => {
    const start = BigInt(range.start) * S_TO_NS;
    const end = BigInt(range.end) * S_TO_NS;
    const answer = await client.call(
      "MetricsQueryRange",
      { query: q, start: String(start), end: String(end), step: String(60n * S_TO_NS) },
      grafana(),
    );
    expect(answer.code, answer.details).toBe(grpc.status.OK);
    const viaHttp = await httpJson(
      `/api/metrics/query_range?q=${encodeURIComponent(q)}&start=${range.start}&end=${range.end}&step=60s`,
    );
    expect(viaHttp.status).toBe(200);
    // proto3 leaves zeros out of the wire: a missing value is 0.
    const series = answer.messages
      .flatMap((m) => m.series)
      .map((s) => ({ ...s, samples: s.samples.map((p: { value?: number }) => ({ value: 0, ...p })) }));
    expect(series).toEqual(viaHttp.body.series);
    const total = (service: string) =>
      answer.messages
        .flatMap((m) => m.series)
        .filter((s) => s.labels[0].value.stringValue === service)
        .flatMap((s) => s.samples)
        .reduce((n: number, s: { value?: number }) => n + (s.value ?? 0), 0);
    expect(total("svc-alpha")).toBe(2);
    expect(total("svc-beta")).toBe(1);
    // tempo-cli sends no step: the HTTP API's default step applies.
    const noStep = await client.call(
      "MetricsQueryRange",
      { query: q, start: String(start), end: String(end) },
      grafana(),
    );
    expect(noStep.code, noStep.details).toBe(grpc.status.OK);
    const samples = noStep.messages.flatMap((m) => m.series).flatMap((s) => s.samples);
    expect(samples.length).toBeGreaterThanOrEqual(2 * 50);
    expect(samples.reduce((n: number, s: { value?: number }) => n + (s.value ?? 0), 0)).toBe(3);
  });

  it("answers MetricsQueryInstant with one value per series over the whole range", async () => {
    const answer = await client.call(
      "MetricsQueryInstant",
      { query: q, start: String(BigInt(range.start) * S_TO_NS + 123n), end: String(BigInt(range.end) * S_TO_NS) },
      grafana(),
    );
    expect(answer.code, answer.details).toBe(grpc.status.OK);
    const series = answer.messages.flatMap((m) => m.series);
    const value = (service: string) => series.find((s) => s.labels[0].value.stringValue === service)?.value;
    expect(series).toHaveLength(2);
    expect(value("svc-alpha")).toBe(2);
    expect(value("svc-beta")).toBe(1);
    // A range that ends before it starts is the caller's error.
    const backwards = await client.call(
      "MetricsQueryInstant",
      { query: q, start: String(BigInt(range.end) * S_TO_NS), end: String(BigInt(range.start) * S_TO_NS) },
      grafana(),
    );
    expect(backwards.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("answers a bad metrics query with INVALID_ARGUMENT and the HTTP API's message", async () => {
    const bad = "{ span.foo = } | rate()";
    const viaHttp = await httpJson(`/api/metrics/query_range?q=${encodeURIComponent(bad)}`);
    expect(viaHttp.status).toBe(400);
    for (const method of ["MetricsQueryRange", "MetricsQueryInstant"]) {
      const answer = await client.call(method, { query: bad }, grafana());
      expect(answer.code, method).toBe(grpc.status.INVALID_ARGUMENT);
      expect(answer.details).toBe(viaHttp.body.error.message);
    }
  });
});

describe("keys", () => {
  it("refuses a call without a key, with a bad key, or with an ingest key", async () => {
    for (const method of STREAMING_METHOD_NAMES) {
      const request = { tagName: "service.name", query: "{} | rate()" };
      const none = await client.call(method, request, {});
      expect(none.code, method).toBe(grpc.status.UNAUTHENTICATED);
      expect((await client.call(method, request, grafana(generateKey().key))).code).toBe(grpc.status.UNAUTHENTICATED);
      const ingest = await client.call(method, request, { authorization: `Bearer ${keys.ingest}` });
      expect(ingest.code, method).toBe(grpc.status.PERMISSION_DENIED);
      expect(ingest.messages).toEqual([]);
    }
  });

  it("takes a viewer key as Bearer or as Basic's password", async () => {
    const bearer = await client.call("SearchTagsV2", {}, { authorization: `Bearer ${keys.viewer}` });
    expect(bearer.code, bearer.details).toBe(grpc.status.OK);
    const basic = await client.call("SearchTagsV2", {}, grafana(keys.viewer));
    expect(basic.code, basic.details).toBe(grpc.status.OK);
  });

  it("answers a key over its request rate with RESOURCE_EXHAUSTED and a RetryInfo", async () => {
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => client.call("SearchTagsV2", {}, grafana(keys.slow))),
    );
    const limited = answers.filter((a) => a.code === grpc.status.RESOURCE_EXHAUSTED);
    expect(limited.length).toBeGreaterThanOrEqual(1);
    expect(answers.some((a) => a.code === grpc.status.OK)).toBe(true);
    const details = limited[0].trailers?.get("grpc-status-details-bin")[0] as Buffer;
    expect(details.toString("latin1")).toContain("type.googleapis.com/google.rpc.RetryInfo");
  });
});

describe("hostile input", () => {
  it("answers garbage request bytes with INVALID_ARGUMENT and keeps serving both protocols", async () => {
    for (const method of STREAMING_METHOD_NAMES) {
      for (const bytes of [Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from([0x0a, 0x7f, 0x01])]) {
        const answer = await client.callRaw(method, bytes, grafana());
        expect(answer.code, method).toBe(grpc.status.INVALID_ARGUMENT);
      }
    }
    // A wrongly typed field (a string where Tempo has uint32 `start`) does not decode either.
    const wrongType = protobuf.Writer.create()
      .uint32((5 << 3) | 2)
      .string("yesterday")
      .finish();
    expect((await client.callRaw("Search", Buffer.from(wrongType), grafana())).code).toBe(grpc.status.INVALID_ARGUMENT);
    const ok = await client.call("SearchTagsV2", {}, grafana());
    expect(ok.code).toBe(grpc.status.OK);
    expect((await fetch(`${server.queryUrl}/healthz`)).status).toBe(200);
  });

  it("answers an oversized request with RESOURCE_EXHAUSTED", async () => {
    const answer = await client.call("Search", { Query: `{ .a = "${"x".repeat(100_000)}" }` }, grafana());
    expect(answer.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it("answers an injection attempt in a query or tag name as data, not as SQL", async () => {
    const evil = "x' OR 1=1 --";
    const search = await client.call(
      "Search",
      { Query: `{ .a = "${evil}" }`, start: range.start, end: range.end },
      grafana(),
    );
    expect(search.code, search.details).toBe(grpc.status.OK);
    expect(search.messages.flatMap((m) => m.traces ?? [])).toEqual([]);
    const values = await client.call("SearchTagValuesV2", { tagName: `span.${evil}`, start: range.start }, grafana());
    expect(values.code, values.details).toBe(grpc.status.OK);
    expect(values.messages.flatMap((m) => m.tagValues ?? [])).toEqual([]);
  });

  it("answers UNIMPLEMENTED for a method it does not serve", async () => {
    const answer = await client.callRaw("FindTraceByID", Buffer.alloc(0), grafana());
    expect(answer.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it("drops a connection that sends the HTTP/2 preface and then garbage, and serves the next ones", async () => {
    const socket = connect(Number(new URL(server.queryUrl).port), "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(Buffer.concat([H2_PREFACE, randomBytes(4096)]));
    await new Promise<void>((resolve) => {
      socket.on("error", () => {});
      socket.once("close", () => resolve());
      socket.resume();
    });
    expect((await fetch(`${server.queryUrl}/healthz`)).status).toBe(200);
    expect((await client.call("SearchTagsV2", {}, grafana())).code).toBe(grpc.status.OK);
  });
});

describe("the shared port", () => {
  it("keeps HTTP/1.1 keep-alive working: several requests on one connection, and the UI page", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<Socket>();
    const get = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.get(`${server.queryUrl}${path}`, { agent }, (res) => {
          sockets.add(res.socket as Socket);
          let body = "";
          res.on("data", (c) => {
            body += c;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
      });
    expect((await get("/healthz")).status).toBe(200);
    expect((await get("/api/echo")).body).toBe("echo");
    const ui = await get("/");
    expect(ui.status).toBe(200);
    expect(ui.body).toMatch(/<html/i);
    expect(sockets.size).toBe(1);
    agent.destroy();
  });

  it("serves HTTP/1.1 whose first bytes begin like the HTTP/2 preface", async () => {
    const socket = connect(Number(new URL(server.queryUrl).port), "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    let text = "";
    socket.on("data", (c) => {
      text += c;
    });
    socket.write("P");
    await new Promise((r) => setTimeout(r, 50));
    socket.write("OST /api/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    await new Promise<void>((resolve) => socket.once("close", () => resolve()));
    // POST is not a route there: the HTTP/1.1 app answered the whole request line.
    expect(text).toMatch(/^HTTP\/1\.1 404/);
    expect(text).toContain("no route for POST /api/echo");
  });

  it("hands a socket to HTTP/2 only after the whole preface, with every byte it sent", async () => {
    const plain = createServer((_req, res) => res.end("http1"));
    const got: Buffer[] = [];
    const taken = new Promise<void>((resolve) => {
      shareWithH2(plain, (socket) => {
        socket.on("end", () => socket.destroy());
        socket.on("data", (c) => {
          got.push(c);
          if (Buffer.concat(got).length >= H2_PREFACE.length + 5) resolve();
        });
        socket.resume();
      });
    });
    await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", () => resolve()));
    const port = (plain.address() as { port: number }).port;
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(H2_PREFACE.subarray(0, 5));
    await new Promise((r) => setTimeout(r, 30));
    socket.write(H2_PREFACE.subarray(5));
    socket.write("hello");
    await taken;
    expect(Buffer.concat(got)).toEqual(Buffer.concat([H2_PREFACE, Buffer.from("hello")]));
    socket.destroy();
    // Plain HTTP/1.1 still reaches the server's own handler.
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("http1");
    await new Promise<void>((resolve) => plain.close(() => resolve()));
  });

  it("answers gRPC from node:http2 with prior knowledge, as Grafana's Go client connects", async () => {
    const session = http2.connect(server.queryUrl);
    const req = session.request({
      ":method": "POST",
      ":path": "/tempopb.StreamingQuerier/SearchTagsV2",
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${ADMIN}`,
    });
    const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => req.once("trailers", resolve));
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.end(Buffer.from([0, 0, 0, 0, 0]));
    expect((await trailers)["grpc-status"]).toBe("0");
    const body = Buffer.concat(chunks);
    expect(body[0]).toBe(0);
    expect(body.readUInt32BE(1)).toBe(body.length - 5);
    session.close();
  });
});

describe("the method table", () => {
  it("has a read route for every streaming method, and every method is served", () => {
    expect(Object.keys(GRPC_ROUTES).sort()).toEqual([...STREAMING_METHODS].sort());
    for (const route of Object.values(GRPC_ROUTES)) expect(ROUTE_PERMISSIONS[route], route).toBe("read");
  });

  it("splits a long answer into packets of at most the packet size, losing nothing", () => {
    const type = streamingRoot().lookupType("tempopb.SearchResponse");
    const traces = Array.from({ length: 40 }, (_, i) => ({
      traceID: i.toString(16).padStart(32, "0"),
      rootServiceName: "x".repeat(1000),
      startTimeUnixNano: "1700000000000000000",
    }));
    const out = packets(type, { traces, metrics: { inspectedTraces: 40 } }, "traces", 10_000);
    expect(out.length).toBeGreaterThan(3);
    for (const p of out) expect(p.length).toBeLessThanOrEqual(10_000 + 1100);
    const back = out.flatMap((p) => (type.toObject(type.decode(p), { longs: String }).traces ?? []) as unknown[]);
    expect(back).toEqual(traces);
    expect(packets(type, { traces: [] }, "traces")).toHaveLength(1);
    expect(PACKET_BYTES).toBe(1024 * 1024);
  });
});
