import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGzip } from "node:zlib";
import { ConfigError, generateKey, loadEnvConfig, TRACE_EXPORT_PATH, traceServiceDefinition } from "@cognive/collector";
import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs/minimal.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bombs, collectorBody } from "../../../collector/test/support/bombs.ts";
import { AGENT_RUN_CALLS, expectAgentRunStored } from "../helpers/agent-run-check.ts";
import { type Answer, retryDelaySeconds, unaryExport } from "../helpers/grpc.ts";
import { emitAgentRun, otelProvider } from "../helpers/otel.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const MAX_BODY = 2 * 1024 * 1024;

// --- a raw OTLP/gRPC client: the message is whatever bytes the test gives it -----------------------

const TraceClient = grpc.makeGenericClientConstructor(traceServiceDefinition, "TraceService");

function rawClient(grpcUrl: string, credentials = grpc.credentials.createInsecure()): grpc.Client {
  return new TraceClient(new URL(grpcUrl).host, credentials, {
    "grpc.max_send_message_length": -1,
  });
}

function exportRaw(client: grpc.Client, message: Buffer, key?: string): Promise<Answer> {
  return unaryExport(client, TRACE_EXPORT_PATH, message, key);
}

// --- ExportTraceServiceRequest in protobuf, written by hand ---------------------------------------

function anyValue(v: string | number): Uint8Array {
  const w = protobuf.Writer.create();
  return (typeof v === "number" ? w.uint32(24).int64(v) : w.uint32(10).string(v)).finish();
}

function keyValue(w: protobuf.Writer, tag: number, key: string, v: string | number): void {
  w.uint32(tag).fork().uint32(10).string(key).uint32(18).bytes(anyValue(v)).ldelim();
}

function fixed64(w: protobuf.Writer, field: number, n: bigint): void {
  w.uint32((field << 3) | 1)
    .fixed32(Number(n & 0xffffffffn))
    .fixed32(Number(n >> 32n));
}

/** One priced chat call (gpt-4o, 1000 in, 100 out) of `service`, claiming `claimedTeam` if given. */
function chatExport(traceId: string, service: string, claimedTeam?: string): Buffer {
  const t = BigInt(Date.now()) * 1_000_000n;
  const span = protobuf.Writer.create();
  span.uint32(10).bytes(Buffer.from(traceId, "hex"));
  span.uint32(18).bytes(randomBytes(8));
  span.uint32(42).string("chat gpt-4o");
  span.uint32(48).int32(3);
  fixed64(span, 7, t);
  fixed64(span, 8, t + 900_000_000n);
  keyValue(span, 74, "gen_ai.operation.name", "chat");
  keyValue(span, 74, "gen_ai.provider.name", "openai");
  keyValue(span, 74, "gen_ai.request.model", "gpt-4o");
  keyValue(span, 74, "gen_ai.usage.input_tokens", 1000);
  keyValue(span, 74, "gen_ai.usage.output_tokens", 100);
  const resource = protobuf.Writer.create();
  keyValue(resource, 10, "service.name", service);
  if (claimedTeam) keyValue(resource, 10, "cognive.team", claimedTeam);
  const scopeSpans = protobuf.Writer.create().uint32(18).bytes(span.finish()).finish();
  const resourceSpans = protobuf.Writer.create()
    .uint32(10)
    .bytes(resource.finish())
    .uint32(18)
    .bytes(scopeSpans)
    .finish();
  return Buffer.from(protobuf.Writer.create().uint32(10).bytes(resourceSpans).finish());
}

/**
 * Sends `message` as already compressed with `encoding` over plain HTTP/2 (grpc-js compresses only
 * what it serializes itself) and resolves with the grpc-status.
 */
async function exportCompressed(grpcUrl: string, encoding: string, message: Buffer): Promise<number> {
  const session = http2.connect(grpcUrl);
  try {
    const req = session.request({
      ":method": "POST",
      ":path": TRACE_EXPORT_PATH,
      "content-type": "application/grpc",
      "grpc-encoding": encoding,
      te: "trailers",
    });
    const header = Buffer.alloc(5);
    header.writeUInt8(1, 0);
    header.writeUInt32BE(message.length, 1);
    const status = await new Promise<string | undefined>((resolve, reject) => {
      let code: string | undefined;
      req.on("response", (h) => {
        if (h["grpc-status"] !== undefined) code = String(h["grpc-status"]);
      });
      req.on("trailers", (t) => {
        code = String(t["grpc-status"]);
      });
      req.on("error", reject);
      req.on("close", () => resolve(code));
      req.resume();
      req.end(Buffer.concat([header, message]));
    });
    return Number(status);
  } finally {
    session.close();
  }
}

/** An ExportTraceServiceRequest whose one span has an attribute of kvlists nested `depth` deep. */
function deepKvlistExport(depth: number): Buffer {
  const span = protobuf.Writer.create();
  span.uint32(10).bytes(randomBytes(16));
  span.uint32(18).bytes(randomBytes(8));
  span.uint32(42).string("deep");
  // attributes: KeyValue{key, value: AnyValue{kvlist_value: KeyValueList{values: KeyValue{...}}}}
  span.uint32(74).fork().uint32(10).string("deep");
  for (let i = 0; i < depth; i++) span.uint32(18).fork().uint32(50).fork().uint32(10).fork().uint32(10).string("k");
  span.uint32(18).bytes(anyValue("leaf"));
  for (let i = 0; i < depth * 3 + 1; i++) span.ldelim();
  const scopeSpans = protobuf.Writer.create().uint32(18).bytes(span.finish()).finish();
  const resourceSpans = protobuf.Writer.create().uint32(18).bytes(scopeSpans).finish();
  return Buffer.from(protobuf.Writer.create().uint32(10).bytes(resourceSpans).finish());
}

async function storedSpans(server: TestServer, traceId: string): Promise<number> {
  const rs = await server.running.storage.client.query({
    query: "SELECT count() AS n FROM cognive.otel_traces WHERE TraceId = {t:String}",
    query_params: { t: traceId },
    format: "JSONEachRow",
  });
  return Number(((await rs.json()) as { n: string }[])[0].n);
}

describe("official OTLP/gRPC exporter → collector → query API", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ COGNIVE_MAX_BODY_BYTES: String(MAX_BODY) });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it.each([
    ["uncompressed", undefined],
    ["gzip", "gzip" as const],
  ])("stores every span with exact tokens and the calcPrice cost (%s)", async (label, compression) => {
    const service = `support-bot-grpc-${label}`;
    const provider = otelProvider(
      "grpc",
      server.grpcUrl,
      { "service.name": service, "cognive.team": "cx", "deployment.environment.name": "prod" },
      { compression },
    );
    const traceId = emitAgentRun(provider, "refund-agent", AGENT_RUN_CALLS, { failTool: true });
    await provider.forceFlush();
    await provider.shutdown();
    await expectAgentRunStored(server.queryUrl, traceId, service);
    const metrics = await (await fetch(`${server.otlpUrl}/metrics`)).text();
    expect(metrics).toMatch(/cognive_spans_received_total\{transport="grpc"\} [1-9]/);
    expect(metrics).toMatch(/cognive_otlp_requests_total\{signal="traces",status="OK"\} [1-9]/);
  });

  describe("hostile clients", () => {
    let client: grpc.Client;
    beforeAll(() => {
      client = rawClient(server.grpcUrl);
    });
    afterAll(() => client?.close());

    it("answers an empty export OK with an empty response", async () => {
      const r = await exportRaw(client, Buffer.alloc(0));
      expect(r.code).toBe(grpc.status.OK);
      expect(r.response).toHaveLength(0);
    });

    it("answers garbage INVALID_ARGUMENT and keeps serving", async () => {
      const garbage = await exportRaw(client, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]));
      expect(garbage.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(garbage.details).not.toBe("");
      const random = await exportRaw(client, randomBytes(4096));
      expect(random.code).toBe(grpc.status.INVALID_ARGUMENT);

      const traceId = randomBytes(16).toString("hex");
      const ok = await exportRaw(client, chatExport(traceId, "after-garbage"));
      expect(ok.code).toBe(grpc.status.OK);
      expect(await storedSpans(server, traceId)).toBe(1);
    });

    it("answers a message over COGNIVE_MAX_BODY_BYTES RESOURCE_EXHAUSTED", async () => {
      const r = await exportRaw(client, Buffer.alloc(MAX_BODY + 1, 0x0a));
      expect(r.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect((await exportRaw(client, Buffer.alloc(0))).code).toBe(grpc.status.OK);
    });

    it("answers a gzip bomb RESOURCE_EXHAUSTED without inflating it", async () => {
      // 1 GiB of zeros gzipped to about 1 MiB, inside the size limit as sent.
      const gzip = createGzip({ level: 9 });
      const parts: Buffer[] = [];
      gzip.on("data", (d: Buffer) => parts.push(d));
      const done = new Promise((r) => gzip.on("end", r));
      const zeros = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < 1024; i++) gzip.write(zeros);
      gzip.end();
      await done;
      const bomb = Buffer.concat(parts);
      expect(bomb.length).toBeLessThan(MAX_BODY);

      const before = process.memoryUsage().rss;
      expect(await exportCompressed(server.grpcUrl, "gzip", bomb)).toBe(grpc.status.RESOURCE_EXHAUSTED);
      // The server stops inflating at the limit: nowhere near the gigabyte the bomb holds.
      expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
      expect((await exportRaw(client, Buffer.alloc(0))).code).toBe(grpc.status.OK);
    }, 60_000); // gzipping the gigabyte takes seconds on a busy 2-core machine

    it("answers a deflate bomb RESOURCE_EXHAUSTED and keeps serving", async () => {
      // grpc-encoding deflate is zlib-wrapped: 64 MiB of zeros in about 64 KiB.
      const bomb = bombs(64).zlib;
      expect(bomb.length).toBeLessThan(MAX_BODY);
      expect(await exportCompressed(server.grpcUrl, "deflate", bomb)).toBe(grpc.status.RESOURCE_EXHAUSTED);
      const traceId = randomBytes(16).toString("hex");
      expect((await exportRaw(client, chatExport(traceId, "after-deflate-bomb"))).code).toBe(grpc.status.OK);
      expect(await storedSpans(server, traceId)).toBe(1);
    });

    it("answers grpc-encoding zstd UNIMPLEMENTED (grpc-js decodes gzip and deflate only)", async () => {
      expect(await exportCompressed(server.grpcUrl, "zstd", collectorBody("zstd"))).toBe(grpc.status.UNIMPLEMENTED);
      expect((await exportRaw(client, Buffer.alloc(0))).code).toBe(grpc.status.OK);
    });

    it("answers 10,000 nested kvlists INVALID_ARGUMENT without overflowing the stack, and keeps serving", async () => {
      const deep = deepKvlistExport(10_000);
      expect(deep.length).toBeLessThan(MAX_BODY);
      const r = await exportRaw(client, deep);
      expect(r.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(r.details).toMatch(/nest|deep/i);
      const traceId = randomBytes(16).toString("hex");
      expect((await exportRaw(client, chatExport(traceId, "after-deep-kvlist"))).code).toBe(grpc.status.OK);
      expect(await storedSpans(server, traceId)).toBe(1);
    });

    it("answers UNAVAILABLE with RetryInfo while storage fails, stores nothing, and stores the retry", async () => {
      const storage = server.running.storage;
      const traceId = randomBytes(16).toString("hex");
      const message = chatExport(traceId, "storage-down");
      await storage.client.command({ query: "RENAME TABLE cognive.otel_traces TO cognive.otel_traces_offline" });
      let failed: Answer;
      try {
        failed = await exportRaw(client, message);
      } finally {
        await storage.client.command({ query: "RENAME TABLE cognive.otel_traces_offline TO cognive.otel_traces" });
      }
      expect(failed.code).toBe(grpc.status.UNAVAILABLE);
      expect(retryDelaySeconds(failed.metadata)).toBe(2);
      expect(await storedSpans(server, traceId)).toBe(0);

      const retried = await exportRaw(client, message);
      expect(retried.code).toBe(grpc.status.OK);
      expect(await storedSpans(server, traceId)).toBe(1);
    });
  });
});

describe("OTLP/gRPC with keys required", () => {
  const ADMIN = generateKey().key;
  let server: TestServer;
  let client: grpc.Client;
  const keys: Record<string, string> = {};
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${server.queryUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json", ...init.headers },
    });

  beforeAll(async () => {
    server = await startTestServer({
      COGNIVE_AUTH: "required",
      COGNIVE_ADMIN_KEY: ADMIN,
    });
    for (const [name, role, teams, rateLimit] of [
      ["ingest-bravo", "ingest", ["bravo"], undefined],
      ["viewer", "viewer", "all", undefined],
      ["slow-requests", "ingest", ["bravo"], { requestsPerSecond: 0.5 }],
      ["slow-spans", "ingest", ["bravo"], { requestsPerSecond: 1000, spansPerSecond: 0.5 }],
    ] as const) {
      const res = await api("/api/v1/keys", {
        method: "POST",
        body: JSON.stringify({ name, role, teams, rateLimit }),
      });
      expect(res.status).toBe(201);
      keys[name] = (await res.json()).key;
    }
    client = rawClient(server.grpcUrl);
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  it("answers no key UNAUTHENTICATED and an unknown key UNAUTHENTICATED", async () => {
    const traceId = randomBytes(16).toString("hex");
    expect((await exportRaw(client, chatExport(traceId, "no-key"))).code).toBe(grpc.status.UNAUTHENTICATED);
    const wrong = await exportRaw(client, chatExport(traceId, "no-key"), generateKey().key);
    expect(wrong.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(await storedSpans(server, traceId)).toBe(0);
  });

  it("answers a viewer key PERMISSION_DENIED", async () => {
    const traceId = randomBytes(16).toString("hex");
    const r = await exportRaw(client, chatExport(traceId, "viewer"), keys.viewer);
    expect(r.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(await storedSpans(server, traceId)).toBe(0);
  });

  it("stores an ingest key's spans as its team whatever the resource claims", async () => {
    const traceId = randomBytes(16).toString("hex");
    const r = await exportRaw(client, chatExport(traceId, "bravo-svc", "alpha"), keys["ingest-bravo"]);
    expect(r.code).toBe(grpc.status.OK);
    const listed = async (team: string) =>
      (await (await api(`/api/v1/traces?team=${team}`)).json()).traces.map((t: { traceId: string }) => t.traceId);
    expect(await listed("bravo")).toContain(traceId);
    expect(await listed("alpha")).not.toContain(traceId);
  });

  it.each([
    ["request", "slow-requests"],
    ["span", "slow-spans"],
  ])("answers a key over its %s rate RESOURCE_EXHAUSTED with RetryInfo", async (kind, key) => {
    const first = await exportRaw(client, chatExport(randomBytes(16).toString("hex"), "limited"), keys[key]);
    expect(first.code).toBe(grpc.status.OK);
    const traceId = randomBytes(16).toString("hex");
    const limited = await exportRaw(client, chatExport(traceId, "limited"), keys[key]);
    expect(limited.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(limited.details).toBe(`${kind} rate limit of this key reached`);
    // With RetryInfo, RESOURCE_EXHAUSTED is retryable for OTLP exporters.
    expect(retryDelaySeconds(limited.metadata)).toBeGreaterThanOrEqual(1);
    expect(await storedSpans(server, traceId)).toBe(0);
  });

  it("takes the key from the official exporter's metadata", async () => {
    // What OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<key> becomes in the gRPC exporters.
    const provider = otelProvider(
      "grpc",
      server.grpcUrl,
      { "service.name": "grpc-with-key" },
      { authorization: `Bearer ${keys["ingest-bravo"]}`, compression: "gzip" },
    );
    const traceId = emitAgentRun(provider, "keyed-agent", [AGENT_RUN_CALLS[2]]);
    await provider.forceFlush();
    await provider.shutdown();
    expect(await storedSpans(server, traceId)).toBe(3);
  });
});

describe("OTLP/gRPC while stopping", () => {
  it("stores every export answered OK before a graceful stop, and refuses the others retryably", async () => {
    const first = await startTestServer();
    const client = rawClient(first.grpcUrl);
    const traceIds = Array.from({ length: 20 }, () => randomBytes(16).toString("hex"));
    let answers: Answer[];
    try {
      // Connected first, so that the exports below reach the server before it stops.
      expect((await exportRaw(client, Buffer.alloc(0))).code).toBe(grpc.status.OK);
      const pending = traceIds.map((t) => exportRaw(client, chatExport(t, "stopping")));
      // Stop once the first export is answered (however loaded the machine): the rest are in flight.
      await Promise.race(pending);
      await first.stop({ keepData: true });
      answers = await Promise.all(pending);
    } finally {
      client.close();
    }
    for (const a of answers) expect([grpc.status.OK, grpc.status.UNAVAILABLE]).toContain(a.code);
    expect(answers.some((a) => a.code === grpc.status.OK)).toBe(true);

    const second = await startTestServer({}, first.dataDir);
    try {
      for (const [i, a] of answers.entries()) {
        if (a.code === grpc.status.OK) expect(await storedSpans(second, traceIds[i])).toBe(1);
      }
    } finally {
      await second.stop();
    }
  }, 60_000);
});

describe("OTLP/gRPC over TLS (COGNIVE_GRPC_TLS_CERT / COGNIVE_GRPC_TLS_KEY)", () => {
  let dir: string;
  let server: TestServer;
  let cert: Buffer;

  beforeAll(async () => {
    // A self-signed certificate for 127.0.0.1, made for this run.
    dir = mkdtempSync(join(tmpdir(), "cognive-tls-"));
    const made = spawnSync(
      "openssl",
      [
        ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"],
        ...["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
      ],
      { encoding: "utf8" },
    );
    expect(made.status, made.stderr).toBe(0);
    cert = readFileSync(join(dir, "cert.pem"));
    server = await startTestServer({
      COGNIVE_GRPC_TLS_CERT: join(dir, "cert.pem"),
      COGNIVE_GRPC_TLS_KEY: join(dir, "key.pem"),
    });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("stores an export from a client trusting the certificate", async () => {
    const client = rawClient(server.grpcUrl, grpc.credentials.createSsl(cert));
    try {
      const traceId = randomBytes(16).toString("hex");
      const r = await exportRaw(client, chatExport(traceId, "over-tls"));
      expect(r.code).toBe(grpc.status.OK);
      expect(await storedSpans(server, traceId)).toBe(1);
    } finally {
      client.close();
    }
  });

  it("does not answer a plaintext client", async () => {
    const client = rawClient(server.grpcUrl);
    try {
      const r = await exportRaw(client, chatExport(randomBytes(16).toString("hex"), "plaintext"));
      expect(r.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      client.close();
    }
  });

  it("refuses a certificate without its key, and an unreadable file, naming the variable", async () => {
    expect(() => loadEnvConfig({ COGNIVE_GRPC_TLS_CERT: join(dir, "cert.pem") })).toThrow(
      /COGNIVE_GRPC_TLS_CERT and COGNIVE_GRPC_TLS_KEY must be set together/,
    );
    expect(() => loadEnvConfig({ COGNIVE_GRPC_TLS_KEY: join(dir, "key.pem") })).toThrow(ConfigError);
    await expect(
      startTestServer({ COGNIVE_GRPC_TLS_CERT: join(dir, "missing.pem"), COGNIVE_GRPC_TLS_KEY: join(dir, "key.pem") }),
    ).rejects.toThrow(/cannot read COGNIVE_GRPC_TLS_CERT=.*missing\.pem/);
  });
});
