import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { postRaw } from "../helpers/http.ts";
import { getJson, useTestServer } from "../helpers/server.ts";

const server = useTestServer({ COGNIVE_MAX_BODY_BYTES: String(32 * 1024 * 1024) });

const JSON_CT = { "content-type": "application/json" };
const PROTO_CT = { "content-type": "application/x-protobuf" };
const hex = (bytes: number) => randomBytes(bytes).toString("hex");

function jsonSpan(traceId: string, name: string, attrs: Record<string, string | number> = {}) {
  return {
    traceId,
    spanId: hex(8),
    name,
    kind: 3,
    startTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
    endTimeUnixNano: String(BigInt(Date.now() + 5) * 1_000_000n),
    attributes: Object.entries(attrs).map(([key, v]) => ({
      key,
      value: typeof v === "number" ? { intValue: String(v) } : { stringValue: v },
    })),
  };
}

function jsonBody(spans: unknown[], service = "hostile-test"): Buffer {
  return Buffer.from(
    JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: service } }] },
          scopeSpans: [{ scope: { name: "t" }, spans }],
        },
      ],
    }),
  );
}

async function metric(name: string): Promise<number> {
  const res = await fetch(`${server().otlpUrl}/metrics`);
  const text = await res.text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(" ").pop()) : 0;
}

describe("hostile input to POST /v1/traces", () => {
  it("answers random bytes sent as protobuf with 400", async () => {
    for (let i = 0; i < 5; i++) {
      const res = await postRaw(`${server().otlpUrl}/v1/traces`, randomBytes(4096), PROTO_CT);
      expect(res.status).toBe(400);
    }
  });

  it("answers truncated JSON with 400 and a message", async () => {
    const full = jsonBody([jsonSpan(hex(16), "x")]);
    const res = await postRaw(`${server().otlpUrl}/v1/traces`, full.subarray(0, full.length - 7), JSON_CT);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body.toString()).message).toMatch(/invalid JSON/);
  });

  it("answers JSON of the wrong shape with 400", async () => {
    const res = await postRaw(`${server().otlpUrl}/v1/traces`, Buffer.from('{"resourceSpans":"nope"}'), JSON_CT);
    expect(res.status).toBe(400);
  });

  it("answers text/plain with 415", async () => {
    const res = await postRaw(`${server().otlpUrl}/v1/traces`, Buffer.from("hello"), { "content-type": "text/plain" });
    expect(res.status).toBe(415);
  });

  it("answers an unknown Content-Encoding with 415 and bad gzip with 400", async () => {
    const body = jsonBody([jsonSpan(hex(16), "x")]);
    const br = await postRaw(`${server().otlpUrl}/v1/traces`, body, { ...JSON_CT, "content-encoding": "br" });
    expect(br.status).toBe(415);
    const bad = await postRaw(`${server().otlpUrl}/v1/traces`, body, { ...JSON_CT, "content-encoding": "gzip" });
    expect(bad.status).toBe(400);
  });

  it("answers an 80 MB body with 413, declared or chunked", async () => {
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    const parts = Array.from({ length: 80 }, () => chunk);
    const declared = await postRaw(`${server().otlpUrl}/v1/traces`, parts, PROTO_CT);
    expect(declared.status).toBe(413);
    const chunked = await postRaw(`${server().otlpUrl}/v1/traces`, parts, PROTO_CT, { chunked: true });
    expect(chunked.status).toBe(413);
  });

  it("answers a gzip body inflating to 2 GB with 413 and keeps memory bounded", async () => {
    // A gzip stream may hold many members: 32 members of 64 MiB of zeros inflate to 2 GiB.
    const member = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 32 }, () => member));
    expect(bomb.length).toBeLessThan(32 * 1024 * 1024);
    const before = process.memoryUsage().rss;
    const res = await postRaw(`${server().otlpUrl}/v1/traces`, bomb, { ...PROTO_CT, "content-encoding": "gzip" });
    const grown = process.memoryUsage().rss - before;
    expect(res.status).toBe(413);
    expect(grown).toBeLessThan(400 * 1024 * 1024);
  });

  it("rejects only the span with a 3-byte trace id and stores the rest", async () => {
    const traceId = hex(16);
    const body = jsonBody([
      jsonSpan(traceId, "good-1"),
      { ...jsonSpan(traceId, "bad"), traceId: "abcdef" },
      jsonSpan(traceId, "good-2"),
    ]);
    const res = await postRaw(`${server().otlpUrl}/v1/traces`, body, JSON_CT);
    expect(res.status).toBe(200);
    const answer = JSON.parse(res.body.toString());
    expect(answer.partialSuccess.rejectedSpans).toBe("1");
    expect(answer.partialSuccess.errorMessage).toMatch(/trace id/);
    const trace = await getJson(`${server().queryUrl}/api/v1/traces/${traceId}`);
    expect(trace.status).toBe(200);
    expect(trace.body.spans.map((s: any) => s.name).sort()).toEqual(["good-1", "good-2"]);
  });

  it("stores an unknown model unpriced and counts it in /metrics", async () => {
    const before = await metric("cognive_spans_unpriced_total");
    const traceId = hex(16);
    const body = jsonBody([
      jsonSpan(traceId, "chat acme-secret-model", {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "acme-secret-model",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 10,
      }),
    ]);
    const res = await postRaw(`${server().otlpUrl}/v1/traces`, body, JSON_CT);
    expect(res.status).toBe(200);
    const trace = await getJson(`${server().queryUrl}/api/v1/traces/${traceId}`);
    const span = trace.body.spans[0];
    expect(span.genAi.priced).toBe(false);
    expect(span.genAi.costUsd).toBeNull();
    expect(span.genAi.inputTokens).toBe(100);
    expect(await metric("cognive_spans_unpriced_total")).toBe(before + 1);
  });

  it("keeps serving after all of the above", async () => {
    const health = await fetch(`${server().otlpUrl}/healthz`);
    expect(health.status).toBe(200);
    const traceId = hex(16);
    const res = await postRaw(`${server().otlpUrl}/v1/traces`, jsonBody([jsonSpan(traceId, "after")]), JSON_CT);
    expect(res.status).toBe(200);
    expect((await getJson(`${server().queryUrl}/api/v1/traces/${traceId}`)).body.spans).toHaveLength(1);
  });
});
