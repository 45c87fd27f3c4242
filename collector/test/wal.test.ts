import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, loadEnvConfig } from "../src/config.ts";
import { type Logger, silentLogger } from "../src/log.ts";
import { createCollectorMetrics } from "../src/metrics.ts";
import { createPipeline, groupCommitExporter, type IngestPipeline, unstoredSpans } from "../src/pipeline/ingest.ts";
import { defaultWriterConfig, StorageUnavailableError } from "../src/pipeline/writer.ts";
import type { Storage } from "../src/storage/client.ts";
import { SPAN_TABLE, TRACE_SUMMARY_TABLE } from "../src/storage/schema.ts";
import { type WalConfig, WriteAheadLog } from "../src/storage/wal.ts";
import { twoSpanRequest } from "./support/spans.ts";
import { openTestStorage } from "./support/storage.ts";

const now = BigInt(Date.now()) * 1_000_000n;
const hex = (n: number) => n.toString(16).padStart(32, "0");

const request = (trace: number, name = "step") => twoSpanRequest(trace, now, name);

/**
 * The write-ahead log on embedded storage, through the span pipeline as ingest runs it: requests are
 * answered once their rows are in the log, and the rows reach storage by loads, exactly once across
 * crashes (a log abandoned without closing, a load cut short), torn records and storage failures.
 */
describe("write-ahead log", () => {
  let real: Storage;
  let closeStorage: () => Promise<void>;
  let dir: string;
  /** What storage does with the log's inserts: take them, fail (down), or refuse a marked row. */
  let mode: "ok" | "fail" | "store-then-fail" = "ok";
  let loads = 0;
  /** Loads wait for this while set. */
  let held: Promise<void> | null = null;
  let storage: Storage;
  const opened: { wal: WriteAheadLog; pipeline: IngestPipeline }[] = [];

  beforeAll(async () => {
    ({ storage: real, close: closeStorage } = await openTestStorage("wal"));
    storage = {
      ...real,
      insertNative: async (table, columns, body) => {
        loads++;
        await held;
        if (body.includes("poison")) throw new Error("Code: 117. DB::Exception: refused (INCORRECT_DATA)");
        if (mode === "fail") throw new Error("Code: 243. DB::Exception: no space left (NOT_ENOUGH_SPACE)");
        await real.insertNative(table, columns, body);
        if (mode === "store-then-fail") {
          mode = "ok";
          throw new Error("Code: 243. DB::Exception: no space left after the span table (NOT_ENOUGH_SPACE)");
        }
      },
    };
  });
  afterAll(async () => {
    for (const o of opened) await o.pipeline.close();
    await closeStorage();
  });
  beforeEach(() => {
    mode = "ok";
    dir = mkdtempSync(join(tmpdir(), "cognive-wal-test-"));
    return () => rmSync(dir, { recursive: true, force: true });
  });

  /** A log in `dir` over the misbehaving storage, and a pipeline writing span rows to it. */
  async function openWal(config: Partial<WalConfig> = {}, log: Logger = silentLogger) {
    const wal = await WriteAheadLog.open(
      storage,
      { dir, loadMs: 60_000, loadBytes: 64 * 1024 * 1024, maxBytes: 256 * 1024 * 1024, ...config },
      silentLogger,
      { unstored: (table, body) => unstoredSpans(real, silentLogger, table, body) },
    );
    const pipeline = createPipeline({
      storage: real,
      processors: [],
      exporter: groupCommitExporter(wal.storage, { ...defaultWriterConfig, lingerMs: 5 }, log, "native"),
      metrics: createCollectorMetrics(),
      log: silentLogger,
      dedupCapacity: 10_000,
    });
    opened.push({ wal, pipeline });
    return { wal, pipeline };
  }

  async function stored(traces: number[]): Promise<number> {
    const rs = await real.client.query({
      query: `SELECT count() AS n FROM cognive.${SPAN_TABLE} WHERE TraceId IN {t:Array(String)}`,
      query_params: { t: traces.map(hex) },
      format: "JSONEachRow",
    });
    return Number(((await rs.json()) as { n: string }[])[0].n);
  }

  async function summarized(traces: number[]): Promise<number> {
    const rs = await real.client.query({
      query: `SELECT sum(n) AS n FROM (SELECT TraceId, sum(SpanCount) AS n FROM cognive.${TRACE_SUMMARY_TABLE}
              WHERE TraceId IN {t:Array(String)} GROUP BY TraceId)`,
      query_params: { t: traces.map(hex) },
      format: "JSONEachRow",
    });
    return Number(((await rs.json()) as { n: string }[])[0].n);
  }

  const segments = () => readdirSync(dir).filter((n) => n.endsWith(".wal"));
  const submit = (pipeline: IngestPipeline, traces: number[], name?: string) =>
    Promise.all(traces.map((t) => pipeline.submit(request(t, name), { team: "acme" }, "test")));

  it("answers once rows are in the log, loads them at loadMs, and removes loaded segments", async () => {
    const { wal, pipeline } = await openWal({ loadMs: 300 });
    const traces = [101, 102, 103];
    const answers = await submit(pipeline, traces);
    expect(answers.map((a) => a.accepted)).toEqual([2, 2, 2]);
    // Acknowledged, on disk, not yet in storage.
    expect(await stored(traces)).toBe(0);
    expect(wal.waitingBytes).toBeGreaterThan(0);
    expect(segments().length).toBe(1);
    const deadline = Date.now() + 10_000;
    while (wal.waitingBytes > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await stored(traces)).toBe(6);
    expect(await summarized(traces)).toBe(6);
    expect(segments()).toEqual([]);
    // A retry of an acknowledged request is a duplicate, loaded or not.
    expect((await submit(pipeline, [101]))[0].duplicates).toBe(2);
    expect(await stored(traces)).toBe(6);
  });

  it("loads at once when loadBytes are waiting", async () => {
    const { wal, pipeline } = await openWal({ loadBytes: 1 });
    await submit(pipeline, [111]);
    const deadline = Date.now() + 10_000;
    while (wal.waitingBytes > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await stored([111])).toBe(2);
  });

  /** Each trace's spans with the attribute its request gave them: what a load that read moved bytes would garble. */
  async function attributes(traces: number[]): Promise<string[]> {
    const rs = await real.client.query({
      query: `SELECT TraceId, SpanAttributes['i'] AS i FROM cognive.${SPAN_TABLE}
              WHERE TraceId IN {t:Array(String)} ORDER BY TraceId, SpanId`,
      query_params: { t: traces.map(hex) },
      format: "JSONEachRow",
    });
    return ((await rs.json()) as { TraceId: string; i: string }[]).map(
      (r) => `${Number.parseInt(r.TraceId, 16)}:${r.i}`,
    );
  }

  it.each([
    ["each record in a chunk of its own, loaded alone", 151, { loadBytes: 1, chunkBytes: 1 }],
    ["each record in a chunk of its own, a load each", 171, { loadBytes: 64 * 1024 * 1024, chunkBytes: 1 }],
    ["records sharing chunks of 8 KB, loaded together", 1211, { loadBytes: 64 * 1024 * 1024, chunkBytes: 8192 }],
  ])(
    "loads each record once, intact, while loads of its own and flushes run at the same time: %s",
    async (_, from, config) => {
      const { wal, pipeline } = await openWal({ ...config, loadMs: 1 });
      const traces = Array.from({ length: 12 }, (_, i) => from + i);
      await Promise.all(traces.map((t) => submit(pipeline, [t]).then(() => wal.flush())));
      await wal.flush();
      expect(await stored(traces)).toBe(24);
      expect(await summarized(traces)).toBe(24);
      // The parent span carries its trace's number (the child none).
      expect(await attributes(traces)).toEqual(traces.flatMap((t) => [`${t}:${t}`, `${t}:`]));
      await pipeline.close();
      await wal.close();
    },
  );

  it("keeps intact the records appended while a load runs, in new chunks, and reuses an emptied one after it", async () => {
    const { wal, pipeline } = await openWal({ chunkBytes: 1 });
    await submit(pipeline, [191]);
    let release = () => {};
    held = new Promise<void>((r) => {
      release = r;
    });
    const loading = wal.flush();
    // Appended while the first record's load waits: a chunk each.
    await submit(pipeline, [192]);
    // Larger than the first: the first's chunk, emptied by its load, is too small to take it again.
    await submit(pipeline, [193], "x".repeat(4000));
    expect(wal.stats.chunks).toBe(3);
    held = null;
    release();
    await loading;
    await wal.flush();
    expect(await attributes([191, 192, 193])).toEqual([191, 192, 193].flatMap((t) => [`${t}:${t}`, `${t}:`]));
    // The emptied chunks are reused for records that fit them, not allocated anew.
    const chunks = wal.stats.chunks;
    for (const t of [194, 195, 196]) {
      await submit(pipeline, [t]);
      await wal.flush();
    }
    expect(wal.stats.chunks).toBe(chunks);
    expect(await attributes([194, 195, 196])).toEqual([194, 195, 196].flatMap((t) => [`${t}:${t}`, `${t}:`]));
  });

  it.each([
    ["in one chunk, one insert", 32 * 1024, 241, 1],
    ["in a chunk each, an insert each", 1, 251, 3],
  ])(
    "ends a load where its chunk ends, so that its records are inserted as they lie: %s",
    async (_, chunkBytes, from, inserts) => {
      const { wal, pipeline } = await openWal({ chunkBytes });
      const traces = [from, from + 1, from + 2];
      // A record each (one after another, so that the writer does not join them).
      for (const t of traces) await submit(pipeline, [t]);
      expect(wal.stats.chunks).toBe(inserts);
      const before = loads;
      await wal.flush();
      expect(loads - before).toBe(inserts);
      expect(await attributes(traces)).toEqual(traces.flatMap((t) => [`${t}:${t}`, `${t}:`]));
    },
  );

  it("holds a steady load's waiting records in one chunk, never moving them", async () => {
    // 32 KB chunks: four requests' records fit one; the 40 together would take several.
    const { wal, pipeline } = await openWal({ loadMs: 1, chunkBytes: 32 * 1024 });
    const traces = Array.from({ length: 40 }, (_, i) => 1101 + i);
    for (let i = 0; i < traces.length; i += 4) {
      await Promise.all(traces.slice(i, i + 4).map((t) => submit(pipeline, [t])));
      expect(wal.waitingBytes).toBeLessThan(32 * 1024);
      await wal.flush();
    }
    expect(await stored(traces)).toBe(80);
    expect(wal.stats.chunks).toBe(1);
  });

  it("after a crash (the log never closed), the next open loads what was acknowledged, once", async () => {
    const first = await openWal();
    const traces = [201, 202, 203, 204];
    await submit(first.pipeline, traces);
    expect(await stored(traces)).toBe(0);
    // The first process is gone: its log is opened again as a restart would.
    const loadsBefore = loads;
    const second = await openWal();
    expect(loads).toBeGreaterThan(loadsBefore);
    expect(await stored(traces)).toBe(6 + 2);
    expect(await summarized(traces)).toBe(8);
    expect(second.wal.waitingBytes).toBe(0);
    expect(segments()).toEqual([]);
  });

  it("a load cut short after storing its rows is not stored twice when the log is read again", async () => {
    const first = await openWal();
    const traces = [301, 302];
    await submit(first.pipeline, traces);
    // Keep the segment as it was before the load, as a crash before its removal would.
    const [segment] = segments();
    const saved = join(dir, "saved");
    copyFileSync(join(dir, segment), saved);
    await first.wal.flush();
    expect(await stored(traces)).toBe(4);
    expect(segments()).toEqual([]);
    copyFileSync(saved, join(dir, segment));
    rmSync(saved);
    await openWal();
    expect(await stored(traces)).toBe(4);
    expect(await summarized(traces)).toBe(4);
  });

  it("drops a record cut short at the end of a segment (never acknowledged) and loads those before it", async () => {
    const first = await openWal();
    await submit(first.pipeline, [401]);
    const [segment] = segments();
    const size = statSync(join(dir, segment)).size;
    // Half a record: the magic and a length that runs past the end.
    const torn = Buffer.alloc(40);
    torn.writeUInt32LE(0x314c5743, 0);
    torn.writeUInt32LE(10, 4);
    torn.writeUInt32LE(1_000_000, 8);
    appendFileSync(join(dir, segment), torn);
    expect(statSync(join(dir, segment)).size).toBe(size + 40);
    await openWal();
    expect(await stored([401])).toBe(2);
    expect(segments()).toEqual([]);
  });

  it("keeps rows while storage fails and loads them, once, when it is back", async () => {
    const { wal, pipeline } = await openWal({ loadBytes: 1 });
    mode = "fail";
    const traces = [501, 502];
    // Still answered: the rows are in the log.
    expect((await submit(pipeline, traces)).map((a) => a.accepted)).toEqual([2, 2]);
    await new Promise((r) => setTimeout(r, 100));
    expect(await stored(traces)).toBe(0);
    expect(wal.waitingBytes).toBeGreaterThan(0);
    mode = "ok";
    await wal.flush();
    expect(await stored(traces)).toBe(4);
  });

  it("a failed load that stored its rows anyway is loaded again without them", async () => {
    const { wal, pipeline } = await openWal();
    await submit(pipeline, [601, 602]);
    mode = "store-then-fail";
    await wal.flush();
    // The load failed after storing: still waiting.
    expect(wal.waitingBytes).toBeGreaterThan(0);
    await wal.flush();
    expect(wal.waitingBytes).toBe(0);
    expect(await stored([601, 602])).toBe(4);
    expect(await summarized([601, 602])).toBe(4);
  });

  it("refuses new rows with 503 once maxBytes wait for storage, and warns of it (not an error)", async () => {
    const logged: [string, string][] = [];
    const capture = (level: string) => (msg: string) => void logged.push([level, msg]);
    const log: Logger = { debug() {}, info() {}, warn: capture("warn"), error: capture("error") };
    const { wal, pipeline } = await openWal({ maxBytes: 1 }, log);
    mode = "fail";
    expect(wal.problem).toBeNull();
    await submit(pipeline, [701]);
    // What /readyz reports while the log is full.
    expect(wal.problem).toMatch(/write-ahead log full/);
    await expect(submit(pipeline, [702])).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(logged).toEqual([
      ["warn", "ingest is faster than storage: span requests are answered 503 until it catches up"],
    ]);
    mode = "ok";
    await wal.flush();
    expect(wal.problem).toBeNull();
    expect(await stored([701, 702])).toBe(2);
    expect(await pipeline.writer.probe()).toBe(true);
    await submit(pipeline, [702]);
    await wal.flush();
    expect(await stored([701, 702])).toBe(4);
  });

  it("sets apart only the request whose rows storage refuses, from a record and a load of several", async () => {
    const { wal, pipeline } = await openWal();
    // One append of three requests, the middle one carrying the refused row; then two more appends.
    await Promise.all([
      pipeline.submit(request(801), { team: "acme" }, "test"),
      pipeline.submit(request(802, "poison"), { team: "acme" }, "test"),
      pipeline.submit(request(803), { team: "acme" }, "test"),
    ]);
    await submit(pipeline, [804]);
    await submit(pipeline, [805]);
    const loadsBefore = loads;
    await wal.flush();
    // The load of all three records, then halves, then the first record's three blocks.
    expect(loads - loadsBefore).toBeGreaterThan(3);
    expect(await stored([801, 803, 804, 805])).toBe(8);
    expect(await stored([802])).toBe(0);
    expect(wal.stats.rejectedRecords).toBe(1);
    const [rejected] = readdirSync(join(dir, "rejected"));
    const kept = readFileSync(join(dir, "rejected", rejected));
    expect(kept.includes("poison")).toBe(true);
    expect(kept.includes(hex(801))).toBe(false);
    expect(kept.includes(hex(803))).toBe(false);
    expect(wal.waitingBytes).toBe(0);
  });

  it("refuses a log another live process holds, and takes over one a dead process left", async () => {
    writeFileSync(join(dir, "LOCK"), String(process.ppid));
    await expect(openWal()).rejects.toThrow(/in use by process .*COGNIVE_WAL_DIR/);
    // No process has this pid (beyond the kernel's largest).
    writeFileSync(join(dir, "LOCK"), "99999999");
    const { wal } = await openWal();
    expect(readFileSync(join(dir, "LOCK"), "utf8")).toBe(String(process.pid));
    await wal.close();
    expect(existsSync(join(dir, "LOCK"))).toBe(false);
  });

  it("close loads what is waiting", async () => {
    const { wal, pipeline } = await openWal();
    await submit(pipeline, [901]);
    await pipeline.close();
    await wal.close();
    expect(await stored([901])).toBe(2);
    expect(segments()).toEqual([]);
  });
});

describe("write-ahead log configuration", () => {
  it("needs Native rows", () => {
    expect(() => loadEnvConfig({ COGNIVE_INGEST_ACK: "wal", COGNIVE_INSERT_FORMAT: "tsv" })).toThrow(ConfigError);
    expect(loadEnvConfig({ COGNIVE_INGEST_ACK: "wal" }).COGNIVE_INGEST_ACK).toBe("wal");
    expect(loadEnvConfig({}).COGNIVE_INGEST_ACK).toBe("storage");
    expect(() => loadEnvConfig({ COGNIVE_INGEST_ACK: "memory" })).toThrow(/COGNIVE_INGEST_ACK/);
  });
});
