import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStorage } from "@cognive/collector";
import { describe, expect, it } from "vitest";
import { ReadAbortedError, ReadBusyError } from "../../src/api/errors.ts";
import { ReadGate } from "../../src/api/read-gate.ts";
import { readSettings, select, withReadSettings } from "../../src/api/sql.ts";
import { DEFAULT_LIMITS, LimitsConfigError, readLimits } from "../../src/limits.ts";

const S = { max_execution_time: 10, result_overflow_mode: "throw" };

describe("withReadSettings", () => {
  it("appends a SETTINGS clause", () => {
    expect(withReadSettings("SELECT 1", S)).toBe(
      "SELECT 1\nSETTINGS max_execution_time = 10, result_overflow_mode = 'throw'",
    );
  });

  it("drops trailing semicolons and whitespace", () => {
    expect(withReadSettings("SELECT 1 ;; \n", S)).toBe(
      "SELECT 1\nSETTINGS max_execution_time = 10, result_overflow_mode = 'throw'",
    );
  });

  it("merges into a trailing SETTINGS clause, the statement's own values winning", () => {
    expect(withReadSettings("SELECT 1 SETTINGS max_execution_time = 2, max_threads=1", S)).toBe(
      "SELECT 1 SETTINGS max_execution_time = 2, max_threads=1, result_overflow_mode = 'throw'",
    );
  });

  it("puts the settings before a trailing FORMAT", () => {
    expect(withReadSettings("SELECT 1 FORMAT JSONEachRow;", S)).toBe(
      "SELECT 1\nSETTINGS max_execution_time = 10, result_overflow_mode = 'throw' FORMAT JSONEachRow",
    );
    expect(withReadSettings("SELECT 1 SETTINGS max_threads = 1 FORMAT CSV", S)).toBe(
      "SELECT 1 SETTINGS max_threads = 1, max_execution_time = 10, result_overflow_mode = 'throw' FORMAT CSV",
    );
  });

  it("ignores the keywords inside subqueries, strings, comments, parameters and function calls", () => {
    const sql = `SELECT 'SETTINGS x = 1', format('{}', 'a') AS f -- FORMAT CSV
      FROM (SELECT 1 SETTINGS max_threads = 1) WHERE a = {format:String} /* SETTINGS */`;
    expect(withReadSettings(sql, { max_execution_time: 10 })).toBe(`${sql}\nSETTINGS max_execution_time = 10`);
  });

  it("adds its own clause after a UNION whose first part has settings", () => {
    const sql = "SELECT 1 SETTINGS max_threads = 1 UNION ALL SELECT 2";
    expect(withReadSettings(sql, { max_execution_time: 10 })).toBe(`${sql}\nSETTINGS max_execution_time = 10`);
  });

  it("turns the limits into ClickHouse settings, all throwing", () => {
    expect(readSettings(DEFAULT_LIMITS)).toEqual({
      max_execution_time: 10,
      timeout_overflow_mode: "throw",
      max_memory_usage: 1024 ** 3,
      max_rows_to_read: 200_000_000,
      read_overflow_mode: "throw",
      max_result_rows: 1_000_000,
      max_result_bytes: 256 * 1024 ** 2,
      result_overflow_mode: "throw",
    });
  });
});

describe("read limits from the environment", () => {
  it("defaults, overrides and names a bad variable", () => {
    expect(readLimits({}).timeoutSeconds).toBe(10);
    expect(readLimits({ COGNIVE_QUERY_TIMEOUT_SECONDS: "0.5", COGNIVE_QUERY_CONCURRENCY: "2" })).toMatchObject({
      timeoutSeconds: 0.5,
      concurrency: 2,
    });
    expect(() => readLimits({ COGNIVE_QUERY_MAX_RESULT_ROWS: "lots" })).toThrow(LimitsConfigError);
    expect(() => readLimits({ COGNIVE_QUERY_MAX_RESULT_ROWS: "lots" })).toThrow(/COGNIVE_QUERY_MAX_RESULT_ROWS/);
    expect(() => readLimits({ COGNIVE_QUERY_CONCURRENCY: "0" })).toThrow(/COGNIVE_QUERY_CONCURRENCY/);
  });
});

describe("ReadGate", () => {
  it("admits up to its concurrency, queues the rest in order and refuses beyond the queue", async () => {
    const gate = new ReadGate(2, 1, 10_000);
    const a = await gate.acquire();
    const b = await gate.acquire();
    const order: string[] = [];
    const c = gate.acquire().then((release) => {
      order.push("c");
      return release;
    });
    await expect(gate.acquire()).rejects.toBeInstanceOf(ReadBusyError);
    expect(gate.stats).toEqual({ running: 2, waiting: 1 });
    a();
    a(); // releasing twice gives back one slot only
    const releaseC = await c;
    expect(order).toEqual(["c"]);
    expect(gate.stats).toEqual({ running: 2, waiting: 0 });
    b();
    releaseC();
    expect(gate.stats).toEqual({ running: 0, waiting: 0 });
  });

  it("refuses a read that waited too long, with a Retry-After", async () => {
    const gate = new ReadGate(1, 5, 50);
    const first = await gate.acquire();
    const err = await gate.acquire().catch((e) => e);
    expect(err).toBeInstanceOf(ReadBusyError);
    expect((err as ReadBusyError).retryAfterSeconds).toBe(1);
    expect(gate.stats).toEqual({ running: 1, waiting: 0 });
    first();
  });

  it("lets a waiter whose caller went away leave the queue", async () => {
    const gate = new ReadGate(1, 5, 10_000);
    const first = await gate.acquire();
    const gone = new AbortController();
    const waiting = gate.acquire(gone.signal);
    gone.abort();
    await expect(waiting).rejects.toBeInstanceOf(ReadAbortedError);
    expect(gate.stats).toEqual({ running: 1, waiting: 0 });
    first();
    expect(gate.stats).toEqual({ running: 0, waiting: 0 });
  });
});

describe("embedded reads", () => {
  it("run their threads at a lower OS priority than ingest, and leave the connection's settings alone", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cognive-read-priority-"));
    const storage = createStorage({ dataDir: dir, database: "cognive" });
    try {
      const sql = "SELECT getSetting('os_thread_priority') AS p, getSetting('max_execution_time') AS t";
      const [read] = await select<{ p: number; t: number }>(storage, sql, {});
      expect(Number(read.p)).toBe(10);
      expect(Number(read.t)).toBe(DEFAULT_LIMITS.timeoutSeconds);
      // A statement outside select(), on the store's own client: nothing stayed behind.
      const rs = await storage.client.query({ query: sql, format: "JSONEachRow" });
      const [after] = (await rs.json()) as { p: number; t: number }[];
      expect(Number(after.p)).toBe(0);
      expect(Number(after.t)).toBe(0);
    } finally {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
