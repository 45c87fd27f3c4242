import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../src/log.ts";
import { BackpressureError, GroupCommitWriter } from "../src/pipeline/writer.ts";
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

describe("group-commit writer", () => {
  it("writes concurrent appends in few inserts and resolves each only after its insert", async () => {
    inserts = [];
    const w = new GroupCommitWriter(
      countingStorage(storage),
      { maxBatchRows: 1000, maxBatchBytes: 1 << 20, lingerMs: 30, maxQueuedRows: 10_000, maxConcurrentWrites: 1 },
      silentLogger,
    );
    const before = await count();
    const batches = Array.from({ length: 50 }, (_, i) => w.append(`${i}\n${i + 1000}\n`, 2));
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
    const b = w.append("1\n2\n3\n4\n", 4);
    await b.done;
    expect(inserts).toEqual([4]);
  });

  it("refuses appends beyond the queue bound and accepts again once written", async () => {
    const w = new GroupCommitWriter(
      countingStorage(storage),
      { maxBatchRows: 1000, maxBatchBytes: 1 << 20, lingerMs: 50, maxQueuedRows: 10, maxConcurrentWrites: 1 },
      silentLogger,
    );
    const first = w.append("1\n2\n3\n4\n5\n6\n", 6);
    expect(() => w.append("7\n8\n9\n10\n11\n", 5)).toThrow(BackpressureError);
    await first.done;
    await w.append("7\n8\n9\n10\n11\n", 5).done;
  });

  it("rejects every request of a failed batch and recovers on the next", async () => {
    const w = new GroupCommitWriter(
      storage,
      { maxBatchRows: 1000, maxBatchBytes: 1 << 20, lingerMs: 5, maxQueuedRows: 10_000, maxConcurrentWrites: 1 },
      silentLogger,
    );
    // The span table does not exist in this database: the insert fails for real.
    const a = w.append("not a span row\n", 1);
    const b = w.append("nor this\n", 1);
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
    const first = w.append(rows(1_000_000), 75_000);
    const second = w.append(rows(2_000_000), 75_000);
    expect(second).toBe(first);
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
    const b = w.append("42\n", 1);
    await w.close();
    expect(b.state).toBe("committed");
    expect(() => w.append("43\n", 1)).toThrow(BackpressureError);
  });
});
