import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../src/log.ts";
import { createCollectorMetrics } from "../src/metrics.ts";
import {
  createPipeline,
  groupCommitExporter,
  type IngestPipeline,
  type SpanRowFormat,
} from "../src/pipeline/ingest.ts";
import { defaultWriterConfig, PermanentWriteError, StorageUnavailableError } from "../src/pipeline/writer.ts";
import type { Storage } from "../src/storage/client.ts";
import { SPAN_TABLE } from "../src/storage/schema.ts";
import { twoSpanRequest } from "./support/spans.ts";
import { openTestStorage } from "./support/storage.ts";

const now = BigInt(Date.now()) * 1_000_000n;
const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

const request = (trace: number, name = "step") => twoSpanRequest(trace, now, name, { note: "é\t\n'" });

/**
 * The writer's failure semantics in each row format, through a store that misbehaves on request:
 * refusing any insert that carries a marked span (only a split can save the rest), or storing a
 * batch and then failing anyway (a full disk between the span table and its views).
 */
describe.each<SpanRowFormat>(["native", "rowbinary", "tsv"])("span rows as %s", (format) => {
  let storage: Storage;
  let close: () => Promise<void>;
  let pipeline: IngestPipeline;
  let mode: "ok" | "store-then-fail" | "fail" = "ok";
  const inserts: number[] = [];

  beforeAll(async () => {
    let real: Storage;
    ({ storage: real, close } = await openTestStorage(`row-format-${format}`));
    const misbehave = async (body: Buffer | string, insert: () => Promise<void>) => {
      inserts.push(Buffer.byteLength(body));
      if (Buffer.from(body).includes("poison")) throw new Error("Code: 117. DB::Exception: refused (INCORRECT_DATA)");
      if (mode === "fail") throw new Error("Code: 243. DB::Exception: no space left (NOT_ENOUGH_SPACE)");
      await insert();
      if (mode === "store-then-fail") {
        mode = "ok";
        throw new Error("Code: 243. DB::Exception: no space left after the span table (NOT_ENOUGH_SPACE)");
      }
    };
    storage = {
      ...real,
      insertTsv: (t, c, body) => misbehave(body, () => real.insertTsv(t, c, body)),
      insertRowBinary: (t, c, body) => misbehave(body, () => real.insertRowBinary(t, c, body)),
      insertNative: (t, c, body) => misbehave(body, () => real.insertNative(t, c, body)),
    };
    pipeline = createPipeline({
      storage,
      processors: [],
      // A long linger: every request of a test shares one batch.
      exporter: groupCommitExporter(storage, { ...defaultWriterConfig, lingerMs: 200 }, silentLogger, format),
      metrics: createCollectorMetrics(),
      log: silentLogger,
      dedupCapacity: 10_000,
    });
  });
  afterAll(async () => {
    await pipeline.close();
    await close();
  });

  async function storedSpans(traces: number[]): Promise<string[]> {
    const rs = await storage.client.query({
      query: `SELECT TraceId, SpanName, SpanAttributes['note'] AS note FROM cognive.${SPAN_TABLE}
              WHERE TraceId IN {t:Array(String)} ORDER BY TraceId, SpanId`,
      query_params: { t: traces.map((t) => hex(t, 32)) },
      format: "JSONEachRow",
    });
    const rows = (await rs.json()) as { TraceId: string; SpanName: string; note: string }[];
    return rows.map((r) => `${Number.parseInt(r.TraceId, 16)} ${r.SpanName} ${r.note}`);
  }

  it("refuses only the request carrying a refused row, and commits the others of its batch", async () => {
    const traces = [11, 12, 13, 14, 15];
    const answers = traces.map((t) =>
      pipeline.submit(request(t, t === 13 ? "poison" : "step"), { team: "acme" }, "test").then(
        (r) => `ok ${r.accepted}`,
        (err: Error) => err.name,
      ),
    );
    const before = inserts.length;
    expect(await Promise.all(answers)).toEqual(["ok 2", "ok 2", PermanentWriteError.name, "ok 2", "ok 2"]);
    // One batch, split until the refused request was alone.
    expect(inserts.length - before).toBeGreaterThan(2);
    expect(await storedSpans(traces)).toEqual(
      [11, 12, 14, 15].flatMap((t) => [`${t} step `, `${t} step-child é\t\n'`]),
    );
  });

  it("keeps, once, the rows a failed insert left behind, and answers their requests as stored", async () => {
    mode = "store-then-fail";
    const traces = [21, 22, 23];
    const results = await Promise.all(traces.map((t) => pipeline.submit(request(t), { team: "acme" }, "test")));
    expect(results.map((r) => r.accepted)).toEqual([2, 2, 2]);
    expect(await storedSpans(traces)).toHaveLength(6);
    // Their retry is a duplicate: not written again.
    const retry = await pipeline.submit(request(22), { team: "acme" }, "test");
    expect(retry.duplicates).toBe(2);
    expect(await storedSpans(traces)).toHaveLength(6);
  });

  it("answers 503 for rows a failed insert did not store, and takes them once storage is back", async () => {
    mode = "fail";
    await expect(pipeline.submit(request(31), { team: "acme" }, "test")).rejects.toBeInstanceOf(
      StorageUnavailableError,
    );
    expect(await storedSpans([31])).toEqual([]);
    mode = "ok";
    expect(await pipeline.writer.probe()).toBe(true);
    expect((await pipeline.submit(request(31), { team: "acme" }, "test")).accepted).toBe(2);
    expect(await storedSpans([31])).toHaveLength(2);
  });
});
