import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../src/log.ts";
import {
  BackpressureError,
  GroupCommitWriter,
  Part,
  PermanentWriteError,
  StorageUnavailableError,
} from "../src/pipeline/writer.ts";
import { createStorage, type Storage } from "../src/storage/client.ts";

let storage: Storage;
let inserts: number[] = [];
const dir = mkdtempSync(join(tmpdir(), "cognive-writer-"));

/** The real embedded store, counting the inserts it is asked for. */
function countingStorage(real: Storage): Storage {
  return {
    ...real,
    client: real.client,
    insertTsv: async (_table, _cols, body) => {
      inserts.push(body.toString().split("\n").length - 1);
      await real.insertTsv("w", ["I"], body);
    },
  };
}

beforeAll(async () => {
  storage = createStorage({ dataDir: dir, database: "cognive" });
  await storage.client.command({ query: "CREATE DATABASE IF NOT EXISTS cognive" });
  await storage.client.command({ query: "CREATE TABLE cognive.w (I UInt32) ENGINE = MergeTree ORDER BY I" });
});
afterAll(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

async function count(): Promise<number> {
  const rs = await storage.client.query({ query: "SELECT count() AS n FROM cognive.w", format: "JSONEachRow" });
  return Number(((await rs.json()) as { n: string }[])[0].n);
}

/** The counting store whose first insert stores its rows, then returns only once `release` is called. */
function gatedStorage(): { gated: Storage; release: () => void } {
  const real = countingStorage(storage);
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let first = true;
  const gated: Storage = {
    ...real,
    insertTsv: async (t, c, body) => {
      const hold = first;
      first = false;
      await real.insertTsv(t, c, body);
      if (hold) await gate;
    },
  };
  return { gated, release };
}

/** The writer settings of the tests on a gated store (short linger, room to spare). */
const GATED = { maxBatchRows: 1000, maxBatchBytes: 1 << 20, lingerMs: 5, maxQueuedRows: 10_000 };
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A part of `rows` rows on one day. */
const part = (rows: number, day = 0) => new Part(rows, new Set([day]), 0n, 0n);

describe("group-commit writer", () => {
  it("writes concurrent appends in few inserts and resolves each only after its insert", async () => {
    inserts = [];
    const w = new GroupCommitWriter(
      countingStorage(storage),
      { maxBatchRows: 1000, maxBatchBytes: 1 << 20, lingerMs: 30, maxQueuedRows: 10_000, maxConcurrentWrites: 1 },
      silentLogger,
    );
    const before = await count();
    const batches = Array.from({ length: 50 }, (_, i) => w.append(`${i}\n${i + 1000}\n`, part(2)));
    expect(batches.every((b) => b.state === "open")).toBe(true);
    await Promise.all(batches.map((b) => b.done));
    expect(batches.every((b) => b.state === "committed")).toBe(true);
    expect(inserts).toEqual([100]);
    expect((await count()) - before).toBe(100);
  });

  it("flushes at once when a batch is full, without waiting for the linger", async () => {
    inserts = [];
    const w = new GroupCommitWriter(
      countingStorage(storage),
      { maxBatchRows: 4, maxBatchBytes: 1 << 20, lingerMs: 60_000, maxQueuedRows: 10_000, maxConcurrentWrites: 1 },
      silentLogger,
    );
    const b = w.append("1\n2\n3\n4\n", part(4));
    await b.done;
    expect(inserts).toEqual([4]);
  });

  it("refuses appends beyond the queue bound and accepts again once written", async () => {
    const w = new GroupCommitWriter(
      countingStorage(storage),
      { maxBatchRows: 1000, maxBatchBytes: 1 << 20, lingerMs: 50, maxQueuedRows: 10, maxConcurrentWrites: 1 },
      silentLogger,
    );
    const first = w.append("1\n2\n3\n4\n5\n6\n", part(6));
    expect(() => w.append("7\n8\n9\n10\n11\n", part(5))).toThrow(BackpressureError);
    await first.done;
    await w.append("7\n8\n9\n10\n11\n", part(5)).done;
  });

  it("rejects every request of a failed batch and recovers on the next", async () => {
    const w = new GroupCommitWriter(
      storage,
      { maxBatchRows: 1000, maxBatchBytes: 1 << 20, lingerMs: 5, maxQueuedRows: 10_000, maxConcurrentWrites: 1 },
      silentLogger,
    );
    // The span table does not exist in this database: the insert fails for real.
    const a = w.append("not a span row\n", part(1));
    const b = w.append("nor this\n", part(1));
    await expect(a.done).rejects.toThrow();
    await expect(b.done).rejects.toThrow();
    expect(w.healthy).toBe(false);
    expect(a.state).toBe("failed");
  });

  it("grows a batch past its first arena without losing rows", async () => {
    inserts = [];
    const w = new GroupCommitWriter(
      countingStorage(storage),
      {
        maxBatchRows: 1_000_000,
        maxBatchBytes: 1 << 20,
        lingerMs: 60_000,
        maxQueuedRows: 1_000_000,
        maxConcurrentWrites: 1,
      },
      silentLogger,
    );
    const before = await count();
    // Two chunks of 600 KB each: the second no longer fits the first 1 MiB arena.
    const rows = (from: number) => Array.from({ length: 75_000 }, (_, i) => `${from + i}\n`).join("");
    w.append(rows(1_000_000), part(75_000));
    w.append(rows(2_000_000), part(75_000));
    await w.close();
    expect(inserts).toEqual([150_000]);
    expect((await count()) - before).toBe(150_000);
  });

  it("drains what is queued on close", async () => {
    inserts = [];
    const w = new GroupCommitWriter(
      countingStorage(storage),
      { maxBatchRows: 1000, maxBatchBytes: 1 << 20, lingerMs: 60_000, maxQueuedRows: 10_000, maxConcurrentWrites: 1 },
      silentLogger,
    );
    const b = w.append("42\n", part(1));
    await w.close();
    expect(b.state).toBe("committed");
    expect(() => w.append("43\n", part(1))).toThrow(BackpressureError);
  });

  it("splits a batch the store refuses for its data until the bad request is alone; the others commit", async () => {
    inserts = [];
    const real = countingStorage(storage);
    const picky: typeof storage = {
      ...real,
      insertTsv: async (t, c, body) => {
        if (body.toString().includes("bad")) throw new Error("Code: 41. DB::Exception: Cannot read DateTime");
        await real.insertTsv(t, c, body);
      },
    };
    const w = new GroupCommitWriter(
      picky,
      { maxBatchRows: 1000, maxBatchBytes: 1 << 20, lingerMs: 20, maxQueuedRows: 10_000, maxConcurrentWrites: 1 },
      silentLogger,
    );
    const before = await count();
    const parts = Array.from({ length: 9 }, (_, i) =>
      w.append(i === 5 ? "bad\n" : `${i}\n${i + 100}\n`, part(i === 5 ? 1 : 2)),
    );
    const settled = await Promise.allSettled(parts.map((p) => p.done));
    expect(settled.filter((s) => s.status === "fulfilled")).toHaveLength(8);
    const refused = settled[5];
    expect(refused.status === "rejected" && refused.reason).toBeInstanceOf(PermanentWriteError);
    expect((await count()) - before).toBe(16);
    expect(w.healthy).toBe(true);
  });

  it("starts a new batch rather than write more days (partitions) in one insert than allowed", async () => {
    inserts = [];
    const w = new GroupCommitWriter(
      countingStorage(storage),
      {
        maxBatchRows: 1000,
        maxBatchBytes: 1 << 20,
        lingerMs: 20,
        maxQueuedRows: 10_000,
        maxConcurrentWrites: 1,
        maxBatchDays: 3,
      },
      silentLogger,
    );
    const parts = Array.from({ length: 7 }, (_, i) => w.append(`${i}\n`, part(1, i)));
    await Promise.all(parts.map((p) => p.done));
    expect(inserts).toEqual([3, 3, 1]);
  });

  it("answers every request with a retryable error while storage fails, and again accepts after a probe", async () => {
    let down = true;
    const real = countingStorage(storage);
    const flaky: typeof storage = {
      ...real,
      insertTsv: async (t, c, body) => {
        if (down) throw new Error("Code: 243. DB::Exception: Cannot reserve space: not enough space");
        await real.insertTsv(t, c, body);
      },
    };
    let full = true;
    const w = new GroupCommitWriter(
      flaky,
      { maxBatchRows: 1000, maxBatchBytes: 1 << 20, lingerMs: 5, maxQueuedRows: 10_000, maxConcurrentWrites: 1 },
      silentLogger,
      { checkWritable: async () => (full ? Promise.reject(new Error("still full")) : undefined) },
    );
    await expect(w.append("1\n", part(1)).done).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(w.healthy).toBe(false);
    expect(() => w.append("2\n", part(1))).toThrow(StorageUnavailableError);
    expect(await w.probe()).toBe(false);
    down = false;
    full = false;
    expect(await w.probe()).toBe(true);
    await w.append("3\n", part(1)).done;
    expect(w.healthy).toBe(true);
  });
  it("holds a small batch back while an insert runs, and writes it beside that insert once it is large enough", async () => {
    inserts = [];
    const { gated, release } = gatedStorage();
    const w = new GroupCommitWriter(
      gated,
      { ...GATED, maxConcurrentWrites: 2, minConcurrentBatchRows: 10 },
      silentLogger,
    );
    const a = w.append("1\n", part(1));
    await pause(40);
    expect(inserts).toEqual([1]);
    // A slot is free, but 4 rows are too few to be written beside the running insert.
    const b = w.append("2\n3\n4\n5\n", part(4));
    await pause(40);
    expect(inserts).toEqual([1]);
    expect(b.state).toBe("open");
    // Large enough now: written at once, while the first insert still runs.
    const c = w.append("6\n7\n8\n9\n10\n11\n", part(6));
    await Promise.all([b.done, c.done]);
    expect(inserts).toEqual([1, 10]);
    expect(a.state).toBe("writing");
    // A small batch waits for the running insert and goes as soon as it ends.
    const d = w.append("12\n", part(1));
    await pause(40);
    expect(inserts).toEqual([1, 10]);
    release();
    await Promise.all([a.done, d.done]);
    expect(inserts).toEqual([1, 10, 1]);
  });

  /** A writer of one insert slot whose first insert waits for `release`, told of arrivals by the test. */
  function gatheringWriter(
    gatherMs: number,
    arrivals: { latest: number; oldest: number },
    minConcurrentBatchRows?: number,
  ) {
    const { gated, release } = gatedStorage();
    const w = new GroupCommitWriter(
      gated,
      { ...GATED, maxConcurrentWrites: 1, gatherMs, minConcurrentBatchRows },
      silentLogger,
      { arrivals: { latest: () => arrivals.latest, oldest: () => arrivals.oldest } },
    );
    return { w, release };
  }
  it("when an insert ends, waits for the requests still on their way before writing the next batch", async () => {
    inserts = [];
    const arrivals = { latest: 0, oldest: Number.POSITIVE_INFINITY };
    const { w, release } = gatheringWriter(60_000, arrivals);
    const a = w.append("1\n", part(1));
    await pause(30);
    expect(inserts).toEqual([1]);
    const b = w.append("2\n", part(1));
    // b outlives its linger while the insert runs; requests 3 to 5 are in the stage when it ends.
    await pause(20);
    Object.assign(arrivals, { latest: 5, oldest: 3 });
    release();
    await a.done;
    await pause(30);
    expect(inserts).toEqual([1]);
    expect(b.state).toBe("open");
    // Request 6 arrives meanwhile: not waited for. Request 3 arrives: 4 and 5 still are on their way.
    Object.assign(arrivals, { latest: 6, oldest: 4 });
    const c = w.append("3\n", part(1));
    await pause(30);
    expect(inserts).toEqual([1]);
    Object.assign(arrivals, { oldest: 6 });
    const d = w.append("4\n5\n", part(2));
    await Promise.all([b.done, c.done, d.done]);
    expect(inserts).toEqual([1, 4]);
  });

  it("writes the next batch at once when nothing is on its way, and after gatherMs when what is does not come", async () => {
    inserts = [];
    const arrivals = { latest: 0, oldest: Number.POSITIVE_INFINITY };
    const quick = gatheringWriter(60_000, arrivals);
    const a = quick.w.append("1\n", part(1));
    await pause(30);
    const b = quick.w.append("2\n", part(1));
    quick.release();
    await Promise.all([a.done, b.done]);
    expect(inserts).toEqual([1, 1]);

    inserts = [];
    const slow = gatheringWriter(50, arrivals);
    const c = slow.w.append("3\n", part(1));
    await pause(30);
    const d = slow.w.append("4\n", part(1));
    Object.assign(arrivals, { latest: 9, oldest: 9 });
    slow.release();
    await c.done;
    const waited = performance.now();
    await d.done;
    expect(performance.now() - waited).toBeGreaterThanOrEqual(40);
    expect(inserts).toEqual([1, 1]);

    // A batch already as large as minConcurrentBatchRows does not wait for what is on its way.
    inserts = [];
    Object.assign(arrivals, { oldest: Number.POSITIVE_INFINITY });
    const large = gatheringWriter(60_000, arrivals, 2);
    const e = large.w.append("5\n", part(1));
    await pause(30);
    const f = large.w.append("6\n7\n", part(2));
    Object.assign(arrivals, { latest: 10, oldest: 10 });
    large.release();
    await Promise.all([e.done, f.done]);
    expect(inserts).toEqual([1, 2]);
  });

  it("with one insert slot, keeps filling a batch past its linger until the running insert ends", async () => {
    inserts = [];
    const { w, release } = gatheringWriter(0, { latest: 0, oldest: Number.POSITIVE_INFINITY });
    const a = w.append("1\n", part(1));
    await pause(20);
    // Each of these outlives its linger while the first insert runs: still one batch.
    const rest = [];
    for (let i = 2; i <= 4; i++) {
      rest.push(w.append(`${i}\n`, part(1)));
      await pause(20);
    }
    release();
    await Promise.all([a.done, ...rest.map((p) => p.done)]);
    expect(inserts).toEqual([1, 3]);
  });
});
