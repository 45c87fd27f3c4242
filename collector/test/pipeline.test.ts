import { type Attrs, type GenAiFacts, Pricer } from "@cognive/semconv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GovernedSpan } from "../src/governance/hook.ts";
import { silentLogger } from "../src/log.ts";
import { createCollectorMetrics } from "../src/metrics.ts";
import type { DecodedTraces } from "../src/otlp/model.ts";
import { createPipeline, groupCommitExporter, type IngestPipeline } from "../src/pipeline/ingest.ts";
import { defaultProcessors } from "../src/pipeline/processors.ts";
import type { SpanProcessor } from "../src/pipeline/span.ts";
import { defaultWriterConfig } from "../src/pipeline/writer.ts";
import type { Storage } from "../src/storage/client.ts";
import { traceSpans } from "./support/spans.ts";
import { openTestStorage, spansOfTrace } from "./support/storage.ts";

/** Counts what it prices: de-dup must leave retried spans unpriced. */
class CountingPricer extends Pricer {
  calls = 0;
  override price(facts: GenAiFacts, at: Date) {
    this.calls++;
    return super.price(facts, at);
  }
}

const now = BigInt(Date.now()) * 1_000_000n;
const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

/** One resource claiming team "claimed": three priced calls, a tool call, a span to sample out, one with a secret. */
function request(trace: number): DecodedTraces {
  const call = (i: number) => ({
    name: "chat gpt-4o",
    attributes: {
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o",
      "gen_ai.usage.input_tokens": 1000 + i,
      "gen_ai.usage.output_tokens": 100,
    },
  });
  const named: { name: string; attributes: Attrs }[] = [
    call(1),
    call(2),
    call(3),
    {
      name: "execute_tool lookup",
      attributes: { "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup" },
    },
    { name: "drop-me", attributes: {} },
    { name: "secretive", attributes: { secret: "hunter2", kept: "yes" } },
  ];
  const spans = traceSpans(hex(trace, 32), now, named);
  return {
    resourceSpans: [
      {
        resource: { "service.name": "svc", "gen_ai.agent.name": "agent-a", "cognive.team": "claimed" },
        scopeSpans: [{ scopeName: "", scopeVersion: "", spans }],
      },
    ],
  };
}

describe("createPipeline: normalize → de-dup → processors → exporter → onDurable", () => {
  let storage: Storage;
  let close: () => Promise<void>;
  let pipeline: IngestPipeline;
  const pricer = new CountingPricer();
  const processed: string[] = [];
  const durable: GovernedSpan[][] = [];
  const counter: SpanProcessor = {
    name: "counter",
    process: (s) => {
      processed.push(s.spanId);
      return true;
    },
  };
  const sampler: SpanProcessor = { name: "sampler", process: (s) => s.name !== "drop-me" };
  const redactor: SpanProcessor = {
    name: "redactor",
    process: (s) => {
      if ("secret" in s.attributes) {
        const { secret: _, ...rest } = s.attributes;
        s.attributes = rest;
      }
      return true;
    },
  };

  beforeAll(async () => {
    ({ storage, close } = await openTestStorage("pipeline"));
    pipeline = createPipeline({
      storage,
      processors: [...defaultProcessors(pricer, { agents: new Map() }), counter, sampler, redactor],
      exporter: groupCommitExporter(storage, { ...defaultWriterConfig, lingerMs: 1 }, silentLogger),
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

  const stored = (trace: number) =>
    spansOfTrace<{
      SpanName: string;
      TeamName: string;
      AgentName: string;
      Priced: number;
      SpanAttributes: Record<string, string>;
    }>(storage, hex(trace, 32), "SpanName, TeamName, AgentName, Priced, SpanAttributes");

  it("runs every processor once per new span, stores what they kept, and tells governance after the commit", async () => {
    const result = await pipeline.submit(request(1), { team: "acme" }, "test");
    expect(result).toEqual({ accepted: 6, rejected: 0, duplicates: 0, errorMessage: "" });
    expect(processed).toHaveLength(6);
    expect(pricer.calls).toBe(3);
    const rows = await stored(1);
    expect(rows.map((r) => r.SpanName)).toEqual([
      "chat gpt-4o",
      "chat gpt-4o",
      "chat gpt-4o",
      "execute_tool lookup",
      "secretive",
    ]);
    // Tenant stamping: the key's team, not the one the resource claims.
    expect(new Set(rows.map((r) => r.TeamName))).toEqual(new Set(["acme"]));
    expect(new Set(rows.map((r) => r.AgentName))).toEqual(new Set(["agent-a"]));
    expect(rows.map((r) => r.Priced)).toEqual([1, 1, 1, 0, 0]);
    expect(rows[4].SpanAttributes).toEqual({ kept: "yes" });
    expect(durable).toHaveLength(1);
    expect(durable[0].map((g) => [g.spanId, g.team, g.modelCall, g.tool])).toEqual([
      [hex(1, 16), "acme", true, null],
      [hex(2, 16), "acme", true, null],
      [hex(3, 16), "acme", true, null],
      [hex(4, 16), "acme", false, "lookup"],
    ]);
    expect(durable[0].slice(0, 3).every((g) => g.costNanos > 0)).toBe(true);
  });

  it("drops a retry before any processor runs: nothing priced, stored or governed twice", async () => {
    processed.length = 0;
    const result = await pipeline.submit(request(1), { team: "acme" }, "test");
    // The sampled-out span was never stored, so it is not a duplicate: it goes through (and out) again.
    expect(result).toEqual({ accepted: 6, rejected: 0, duplicates: 5, errorMessage: "" });
    expect(processed).toEqual([hex(5, 16)]);
    expect(pricer.calls).toBe(3);
    expect(await stored(1)).toHaveLength(5);
    expect(durable).toHaveLength(1);
  });

  it("answers a retry sent while the original is in flight with the same commit, stored once", async () => {
    const [a, b] = await Promise.all([
      pipeline.submit(request(2), { team: null }, "test"),
      pipeline.submit(request(2), { team: null }, "test"),
    ]);
    expect(a.duplicates).toBe(0);
    expect(b.duplicates).toBe(5);
    const rows = await stored(2);
    expect(rows).toHaveLength(5);
    // Without a key's team, the resource's claim stands.
    expect(new Set(rows.map((r) => r.TeamName))).toEqual(new Set(["claimed"]));
  });
});
