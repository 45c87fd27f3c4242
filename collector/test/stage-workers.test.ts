import { Pricer } from "@cognive/semconv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GovernedSpan } from "../src/governance/hook.ts";
import { silentLogger } from "../src/log.ts";
import { createCollectorMetrics } from "../src/metrics.ts";
import { decodeTracesJson } from "../src/otlp/decode-json.ts";
import { DecodeError } from "../src/otlp/model.ts";
import { createPipeline, groupCommitExporter, type IngestPipeline } from "../src/pipeline/ingest.ts";
import { defaultSpanLimits } from "../src/pipeline/normalize.ts";
import { defaultProcessors, policyProcessorsModule } from "../src/pipeline/processors.ts";
import type { NormalizedSpan } from "../src/pipeline/span.ts";
import { governedSpans, markRepeats, SpanStage, VERDICT_DUPLICATE, VERDICT_NEW } from "../src/pipeline/stage.ts";
import { StagePool } from "../src/pipeline/stage-pool.ts";
import { BackpressureError, defaultWriterConfig, StorageUnavailableError } from "../src/pipeline/writer.ts";
import { BadEncodingError, BodyTooLargeError } from "../src/receiver/codecs.ts";
import type { Storage } from "../src/storage/client.ts";
import { bombs, collectorBody, FIXTURE_SPANS } from "./support/bombs.ts";
import { openTestStorage, spansOfTrace } from "./support/storage.ts";

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");
const nowNs = BigInt(Date.now()) * 1_000_000n;
const AGENTS: [string, { team: string | null }][] = [["agent-a", { team: "declared" }]];
const PROCESSORS = policyProcessorsModule({ agents: AGENTS, priceOverrides: [] });

/** An OTLP/JSON export of one trace: three priced calls, an unknown model, a tool call and a plain span. */
function body(trace: number, extra: Record<string, unknown>[] = []): Buffer {
  const attr = (key: string, v: string | number) => ({
    key,
    value: typeof v === "number" ? { intValue: String(v) } : { stringValue: v },
  });
  const span = (i: number, name: string, attributes: ReturnType<typeof attr>[]) => ({
    traceId: hex(trace, 32),
    spanId: hex(i, 16),
    name,
    kind: 1,
    startTimeUnixNano: String(nowNs + BigInt(i)),
    endTimeUnixNano: String(nowNs + BigInt(i) + 1_000_000n),
    attributes,
  });
  const call = (i: number, model: string) =>
    span(i, `chat ${model}`, [
      attr("gen_ai.operation.name", "chat"),
      attr("gen_ai.provider.name", "openai"),
      attr("gen_ai.request.model", model),
      attr("gen_ai.usage.input_tokens", 1000 + i),
      attr("gen_ai.usage.output_tokens", 100),
    ]);
  const spans = [
    call(1, "gpt-4o"),
    call(2, "gpt-4o"),
    call(3, "gpt-4o"),
    call(4, "no-such-model-xyz"),
    span(5, "execute_tool lookup", [attr("gen_ai.operation.name", "execute_tool"), attr("gen_ai.tool.name", "lookup")]),
    span(6, "plain", [attr("kept", "yes")]),
    ...extra,
  ];
  return Buffer.from(
    JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [attr("service.name", "svc"), attr("gen_ai.agent.name", "agent-a")] },
          scopeSpans: [{ scope: { name: "s" }, spans }],
        },
      ],
    }),
  );
}

describe("stage workers: decode, normalize, process and encode off the main thread", () => {
  let storage: Storage;
  let close: () => Promise<void>;
  let pipeline: IngestPipeline;
  const durable: GovernedSpan[][] = [];

  beforeAll(async () => {
    ({ storage, close } = await openTestStorage("stage-workers"));
    pipeline = createPipeline({
      storage,
      processors: [],
      workers: { count: 1, processors: PROCESSORS },
      exporter: groupCommitExporter(storage, { ...defaultWriterConfig, lingerMs: 1 }, silentLogger, "native"),
      onDurable: (spans) => durable.push(spans),
      metrics: createCollectorMetrics(),
      log: silentLogger,
      dedupCapacity: 10_000,
    });
  });
  afterAll(async () => {
    await pipeline.close();
    await close();
  });

  const send = async (b: Buffer, team: string | null = null) =>
    pipeline.submitStaged(await pipeline.stageBody(b, "json"), { team }, "test");

  const stored = (trace: number) =>
    spansOfTrace<{ SpanName: string; TeamName: string; AgentName: string; Priced: number; Cost: string }>(
      storage,
      hex(trace, 32),
      "SpanName, TeamName, AgentName, Priced, toString(CostUsd) AS Cost",
    );

  it("encodes in a worker exactly the rows the main thread would", async () => {
    const pool = new StagePool(
      { limits: defaultSpanLimits, format: "native", govern: true, processors: PROCESSORS },
      1,
      silentLogger,
    );
    try {
      const here = new SpanStage({
        processors: defaultProcessors(new Pricer(), { agents: new Map(AGENTS) }),
        limits: defaultSpanLimits,
        format: "native",
        govern: true,
      });
      const local = here.normalize(decodeTracesJson(body(7).toString("utf8")), nowNs);
      const job = await pool.normalize(body(7), "json", nowNs);
      expect(job.request.keys).toEqual(local.request.keys);
      expect(job.request.valid).toBe(6);
      const verdicts = new Uint8Array([
        VERDICT_NEW,
        VERDICT_DUPLICATE,
        VERDICT_NEW,
        VERDICT_NEW,
        VERDICT_NEW,
        VERDICT_NEW,
      ]);
      const there = await pool.process(job, verdicts, { team: "acme" });
      const mine = here.process(local.spans, verdicts, { team: "acme" });
      expect([...there.stored]).toEqual([1, 0, 1, 1, 1, 1]);
      expect([...there.stored]).toEqual([...mine.stored]);
      expect(there.rowEnds).toEqual(mine.rowEnds);
      expect(Buffer.from(there.rows).equals(Buffer.from(mine.rows))).toBe(true);
      expect(there.governed).toEqual(mine.governed);
      expect(there.unpriced).toBe(1);
      // Governance's spans, made again from the columns the worker posted: each field as the span has it.
      const expected: GovernedSpan[] = local.spans
        .filter((s, i) => verdicts[i] !== VERDICT_DUPLICATE && (s.usageRole === "model_call" || s.toolName !== null))
        .map((s) => ({
          traceId: s.traceId,
          spanId: s.spanId,
          timeMs: Number(s.startNs / 1_000_000n),
          agent: s.agent,
          team: s.team,
          modelCall: s.usageRole === "model_call",
          costNanos: s.cost?.totalNanos ?? 0,
          requestModel: s.requestModel,
          responseModel: s.responseModel,
          tool: s.toolName,
        }));
      expect(expected.map((g) => [g.spanId, g.modelCall, g.costNanos > 0, g.tool])).toEqual([
        [hex(1, 16), true, true, null],
        [hex(3, 16), true, true, null],
        [hex(4, 16), true, false, null],
        [hex(5, 16), false, false, "lookup"],
      ]);
      expect(governedSpans(there.governed)).toEqual(expected);
      expect(governedSpans(mine.governed)).toEqual(expected);
      // A request with nothing to govern posts no arrays (not empty views of whole buffers).
      const again = await pool.normalize(body(8), "json", nowNs);
      const none = await pool.process(again, new Uint8Array(again.request.valid).fill(VERDICT_DUPLICATE), {
        team: "acme",
      });
      expect([
        none.governed.count,
        none.governed.timeMs.buffer.byteLength,
        none.governed.refs.buffer.byteLength,
      ]).toEqual([0, 0, 0]);
    } finally {
      await pool.close();
    }
  });

  it("numbers requests as they arrive and knows the oldest still on its way to the writer", async () => {
    const pool = new StagePool(
      { limits: defaultSpanLimits, format: "native", govern: false, processors: PROCESSORS },
      1,
      silentLogger,
    );
    try {
      expect([pool.latest(), pool.oldest()]).toEqual([0, Number.POSITIVE_INFINITY]);
      const first = pool.normalize(body(21), "json", nowNs);
      const second = pool.normalize(body(22), "json", nowNs);
      const bad = pool.normalize(Buffer.from("{"), "json", nowNs);
      expect([pool.latest(), pool.oldest()]).toEqual([3, 1]);
      const [a, b] = await Promise.all([first, second]);
      await expect(bad).rejects.toThrow();
      // Normalized but not processed: still on the way.
      expect([pool.latest(), pool.oldest()]).toEqual([3, 1]);
      await pool.process(a, new Uint8Array(a.request.valid).fill(VERDICT_NEW), { team: null });
      expect(pool.oldest()).toBe(2);
      pool.discard(b);
      expect([pool.latest(), pool.oldest()]).toEqual([3, Number.POSITIVE_INFINITY]);
    } finally {
      await pool.close();
    }
  });

  it("processes a request it holds before normalizing the requests queued behind it", async () => {
    const pool = new StagePool(
      { limits: defaultSpanLimits, format: "native", govern: false, processors: PROCESSORS },
      1,
      silentLogger,
    );
    try {
      const held = await pool.normalize(body(31), "json", nowNs);
      // A large request keeps the worker busy while three more and the first one's `process` queue up.
      const plain = Array.from({ length: 20_000 }, (_, i) => ({
        traceId: hex(32, 32),
        spanId: hex(i + 100, 16),
        name: "busy",
        startTimeUnixNano: String(nowNs),
        endTimeUnixNano: String(nowNs + 1n),
        attributes: [{ key: "k", value: { stringValue: "v" } }],
      }));
      const large = Buffer.from(
        JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans: plain }] }] }),
      );
      const order: string[] = [];
      const track = <T>(name: string, p: Promise<T>) =>
        p.then((v) => {
          order.push(name);
          return v;
        });
      const busy = track("large", pool.normalize(large, "json", nowNs));
      const queued = [33, 34, 35].map((t) => track(`normalize ${t}`, pool.normalize(body(t), "json", nowNs)));
      const processed = track("process 31", pool.process(held, new Uint8Array(6).fill(VERDICT_NEW), { team: null }));
      const jobs = await Promise.all([busy, ...queued]);
      expect((await processed).stored).toEqual(new Uint8Array(6).fill(1));
      // Taken in arrival order, the held spans would wait for all three (the large one may come first or after).
      expect(order.filter((o) => o !== "large")).toEqual([
        "process 31",
        "normalize 33",
        "normalize 34",
        "normalize 35",
      ]);
      for (const job of jobs) pool.discard(job);
    } finally {
      await pool.close();
    }
  });

  it("undoes the JavaScript-decoded Content-Encodings in the worker, within the body limit", async () => {
    const limit = 1024 * 1024;
    for (const encoding of ["zstd", "snappy", "x-snappy-framed", "lz4"] as const) {
      const job = await pipeline.stageBody(collectorBody(encoding), "proto", { contentEncoding: encoding, limit });
      expect(job.request.valid, encoding).toBe(FIXTURE_SPANS);
      pipeline.discardStaged(job);
      // Bombs stop at the limit, and a truncated body is a bad encoding: each as on the main thread.
      await expect(
        pipeline.stageBody(bombs(16)[encoding], "proto", { contentEncoding: encoding, limit }),
        encoding,
      ).rejects.toBeInstanceOf(BodyTooLargeError);
      const half = collectorBody(encoding).subarray(0, 1000);
      await expect(
        pipeline.stageBody(half, "proto", { contentEncoding: encoding, limit }),
        encoding,
      ).rejects.toBeInstanceOf(BadEncodingError);
    }
    // The worker keeps serving after them.
    expect((await send(body(9))).accepted).toBe(6);
  });

  it("prices and stamps in the worker, and tells governance after the commit", async () => {
    durable.length = 0;
    const result = await send(body(1), "acme");
    expect(result).toEqual({ accepted: 6, rejected: 0, duplicates: 0, errorMessage: "" });
    const rows = await stored(1);
    expect(rows.map((r) => r.Priced)).toEqual([1, 1, 1, 0, 0, 0]);
    expect(rows.slice(0, 3).every((r) => Number(r.Cost) > 0)).toBe(true);
    expect(new Set(rows.map((r) => r.TeamName))).toEqual(new Set(["acme"]));
    expect(new Set(rows.map((r) => r.AgentName))).toEqual(new Set(["agent-a"]));
    expect(durable).toHaveLength(1);
    expect(durable[0].map((g) => [g.spanId, g.modelCall, g.tool])).toEqual([
      [hex(1, 16), true, null],
      [hex(2, 16), true, null],
      [hex(3, 16), true, null],
      [hex(4, 16), true, null],
      [hex(5, 16), false, "lookup"],
    ]);
    // Without a key's team, the policy's declared team for the agent applies (built inside the worker).
    await send(body(2));
    expect(new Set((await stored(2)).map((r) => r.TeamName))).toEqual(new Set(["declared"]));
  });

  it("drops a retry before it is processed: stored, priced and governed once", async () => {
    durable.length = 0;
    const result = await send(body(1), "acme");
    expect(result).toEqual({ accepted: 6, rejected: 0, duplicates: 6, errorMessage: "" });
    expect(await stored(1)).toHaveLength(6);
    expect(durable).toHaveLength(0);
  });

  it("answers a retry staged while the original is in flight with the same commit, stored once", async () => {
    const [a, b] = await Promise.all([send(body(3)), send(body(3))]);
    expect([a.duplicates, b.duplicates].sort()).toEqual([0, 6]);
    expect(await stored(3)).toHaveLength(6);
  });

  it("rejects a body that is not OTLP with DecodeError, and the worker keeps serving", async () => {
    await expect(pipeline.stageBody(Buffer.from("{not json"), "json")).rejects.toBeInstanceOf(DecodeError);
    await expect(pipeline.stageBody(Buffer.from([0xff, 0xff, 0xff, 0x0f]), "proto")).rejects.toBeInstanceOf(
      DecodeError,
    );
    expect((await send(body(4))).accepted).toBe(6);
  });

  it("stores nothing of a discarded request and reserves none of its spans", async () => {
    const job = await pipeline.stageBody(body(5), "json");
    pipeline.discardStaged(job);
    // The worker has let go of it: submitting it now fails, and nothing was written.
    await expect(pipeline.submitStaged(job, { team: null }, "test")).rejects.toThrow(/dropped/);
    expect(await stored(5)).toHaveLength(0);
    expect(await send(body(5))).toMatchObject({ accepted: 6, duplicates: 0 });
    expect(await stored(5)).toHaveLength(6);
  });

  it("keeps each span of a request with a repeated span once, and rejects only the bad span", async () => {
    const repeated = {
      traceId: hex(6, 32),
      spanId: hex(1, 16),
      name: "again",
      kind: 1,
      startTimeUnixNano: String(nowNs),
    };
    const bad = { traceId: "abc", spanId: hex(9, 16), name: "bad", kind: 1, startTimeUnixNano: String(nowNs) };
    const result = await send(body(6, [repeated, bad]));
    expect(result).toMatchObject({ accepted: 7, rejected: 1, duplicates: 1 });
    expect(await stored(6)).toHaveLength(6);
  });

  it("fails the requests a stopped worker held, and serves the next ones from its replacement", async () => {
    const pool = pipeline.workers;
    if (pool === null) throw new Error("no workers");
    const job = await pipeline.stageBody(body(8), "json");
    const [first] = pool.threads();
    await first.terminate();
    // Retryable: the receivers answer 503 / UNAVAILABLE.
    await expect(pipeline.submitStaged(job, { team: null }, "test")).rejects.toThrow(StorageUnavailableError);
    // The spans it reserved are given back: a retry is stored.
    for (let i = 0; i < 100 && pool.threads()[0] === first; i++) await new Promise((r) => setTimeout(r, 10));
    expect(pool.threads()[0]).not.toBe(first);
    expect(await send(body(8))).toMatchObject({ accepted: 6, duplicates: 0 });
    expect(await stored(8)).toHaveLength(6);
  });

  it("closing refuses new requests, and stores and answers those already in a worker", async () => {
    const other = createPipeline({
      storage,
      processors: [],
      workers: { count: 1, processors: PROCESSORS },
      exporter: groupCommitExporter(storage, { ...defaultWriterConfig, lingerMs: 1 }, silentLogger, "native"),
      metrics: createCollectorMetrics(),
      log: silentLogger,
      dedupCapacity: 10_000,
    });
    const staged = await Promise.all([other.stageBody(body(10), "json"), other.stageBody(body(11), "json")]);
    const closed = other.close();
    await expect(other.stageBody(body(12), "json")).rejects.toThrow(BackpressureError);
    // Submitted after the close began (a rate-limit check in between, say): still written before it ends.
    const answers = staged.map((job) => other.submitStaged(job, { team: null }, "test"));
    await closed;
    for (const a of answers) expect(await a).toMatchObject({ accepted: 6, duplicates: 0 });
    expect(await stored(10)).toHaveLength(6);
    expect(await stored(11)).toHaveLength(6);
    expect(await stored(12)).toHaveLength(0);
  });

  it("runs a processors module of the user's in each worker: a sampler and a redactor", async () => {
    const custom = createPipeline({
      storage,
      processors: [],
      workers: {
        count: 1,
        processors: {
          url: new URL("./fixtures/processors.ts", import.meta.url).href,
          name: "redactAndSample",
          options: { drop: "plain", redact: "secret" },
        },
      },
      exporter: groupCommitExporter(storage, { ...defaultWriterConfig, lingerMs: 1 }, silentLogger, "native"),
      metrics: createCollectorMetrics(),
      log: silentLogger,
      dedupCapacity: 10_000,
    });
    try {
      await custom.recoverAtStart();
      const secret = {
        traceId: hex(13, 32),
        spanId: hex(7, 16),
        name: "with a secret",
        kind: 1,
        startTimeUnixNano: String(nowNs),
        attributes: [
          { key: "secret", value: { stringValue: "hunter2" } },
          { key: "public", value: { stringValue: "ok" } },
        ],
      };
      const answer = await custom.submitStaged(await custom.stageBody(body(13, [secret]), "json"), { team: null }, "t");
      expect(answer).toMatchObject({ accepted: 7, rejected: 0 });
      const spans = await spansOfTrace<{ SpanName: string; SpanAttributes: Record<string, string> }>(
        storage,
        hex(13, 32),
        "SpanName, SpanAttributes",
      );
      // "plain" was sampled out; the secret attribute is gone and the rest kept.
      expect(spans.map((r) => r.SpanName)).not.toContain("plain");
      expect(spans).toHaveLength(6);
      const kept = spans.find((r) => r.SpanName === "with a secret");
      expect(kept?.SpanAttributes).toEqual({ public: "ok" });
    } finally {
      await custom.close();
    }
  });

  it("fails the start with what is wrong when a processors module cannot be built", async () => {
    const url = new URL("./fixtures/processors.ts", import.meta.url).href;
    for (const [name, why] of [
      ["notAFactory", /\(export notAFactory\) is not a function/],
      ["wrongShape", /did not give a list of \{ name, process/],
    ] as const) {
      const broken = createPipeline({
        storage,
        processors: [],
        workers: { count: 1, processors: { url, name } },
        exporter: groupCommitExporter(storage, defaultWriterConfig, silentLogger, "native"),
        metrics: createCollectorMetrics(),
        log: silentLogger,
        dedupCapacity: 100,
      });
      try {
        await expect(broken.recoverAtStart()).rejects.toThrow(why);
        // A request that comes anyway is refused with the same reason, and nothing is stored.
        await expect(broken.stageBody(body(14), "json")).rejects.toThrow(why);
      } finally {
        await broken.close();
      }
    }
    expect(await stored(14)).toHaveLength(0);
  });
});

describe("a request's repeated spans", () => {
  it("are marked exactly: the same ids again, not the same span id in another trace", () => {
    const stage = new SpanStage({ processors: [], limits: defaultSpanLimits, format: "native", govern: false });
    // 30 traces of spans numbered 1…100 (as some tracers number them), then 60 earlier spans again.
    const spans: Record<string, unknown>[] = [];
    for (let t = 1; t <= 30; t++)
      for (let s = 1; s <= 100; s++)
        spans.push({ traceId: hex(t, 32), spanId: hex(s, 16), name: "s", kind: 1, startTimeUnixNano: String(nowNs) });
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let i = 0; i < 60; i++) {
      const again = spans[next() % spans.length];
      spans.splice(next() % spans.length, 0, { ...again });
    }
    const req = decodeTracesJson(JSON.stringify({ resourceSpans: [{ resource: {}, scopeSpans: [{ spans }] }] }));
    const { request, spans: normalized } = stage.normalize(req, nowNs);
    const seen = new Set<string>();
    const expected = normalized.map((s) => {
      const id = `${s.traceId}/${s.spanId}`;
      if (seen.has(id)) return 1;
      seen.add(id);
      return 0;
    });
    expect(normalized).toHaveLength(3060);
    expect(Array.from(request.repeats)).toEqual(expected);
    expect(expected.filter((r) => r === 1).length).toBeGreaterThan(50);
  });

  it("are confirmed on the ids when two spans' keys are alike", () => {
    // Keys all equal (as a hash collision would make them): only the same ids are a repeat.
    const ids = [
      [hex(1, 32), hex(1, 16)],
      [hex(2, 32), hex(1, 16)],
      [hex(1, 32), hex(2, 16)],
      [hex(1, 32), hex(1, 16)],
      [hex(2, 32), hex(1, 16)],
    ];
    const spans = ids.map(([traceId, spanId]) => ({ traceId, spanId })) as unknown as NormalizedSpan[];
    const keys = new Uint32Array(spans.length * 4).fill(0x5bd1e995);
    const repeats = new Uint8Array(spans.length);
    markRepeats(spans, keys, repeats);
    expect(Array.from(repeats)).toEqual([0, 0, 0, 1, 1]);
  });
});
