import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { type ClickHouseClient, ClickHouseError, createClient } from "@clickhouse/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChdbHttp, startChdbHttp } from "../helpers/chdb-http.ts";

// The test-only HTTP front for embedded chDB, driven by the real @clickhouse/client, so the
// topology test can rely on it behaving as a ClickHouse server does for what Cognive sends.
describe("chDB HTTP front (test helper)", () => {
  const dir = mkdtempSync(join(tmpdir(), "cognive-chdb-http-"));
  let front: ChdbHttp;
  let client: ClickHouseClient;
  const open: ClickHouseClient[] = [];
  const connect = (options: Parameters<typeof createClient>[0] = {}) => {
    const c = createClient({ url: front.url, ...options });
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    front = await startChdbHttp({ dataDir: join(dir, "data"), user: "cognive", password: "s3cret" });
    client = connect();
    await client.command({ query: "CREATE DATABASE IF NOT EXISTS t" });
    await client.command({ query: "CREATE TABLE t.kv (k String, v UInt64) ENGINE = MergeTree ORDER BY k" });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(open.map((c) => c.close()));
    await front?.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });

  const rows = async (c: ClickHouseClient, query: string, query_params?: Record<string, unknown>) =>
    (await c.query({ query, query_params, format: "JSONEachRow" })).json<Record<string, unknown>>();

  it("answers /ping, inserts TabSeparated (escapes and semicolons intact) and reads it back with bound parameters", async () => {
    expect((await client.ping()).success).toBe(true);
    const r = await client.insert({
      table: "t.kv",
      values: [
        { k: "semi;colon\nand newline", v: 1 },
        { k: "it's a \\ backslash\ttab", v: 2 },
      ],
      format: "JSONEachRow",
    });
    expect(r.summary?.written_rows).toBe("2");
    expect(await rows(client, "SELECT k, v FROM t.kv WHERE k = {k:String}", { k: "it's a \\ backslash\ttab" })).toEqual(
      [{ k: "it's a \\ backslash\ttab", v: "2" }],
    );
    expect(
      await rows(client, "SELECT k FROM t.kv WHERE k IN {ks:Array(String)} ORDER BY k", {
        ks: ["semi;colon\nand newline", "x' OR 1=1 --"],
      }),
    ).toEqual([{ k: "semi;colon\nand newline" }]);
  });

  it("keeps a value a value: an injection attempt in a parameter matches nothing", async () => {
    expect(await rows(client, "SELECT count() AS n FROM t.kv WHERE k = {k:String}", { k: "' OR 1=1 --" })).toEqual([
      { n: "0" },
    ]);
  });

  it("takes parameters in a multipart body, and gzip both ways", async () => {
    const multi = connect({ use_multipart_params: true, compression: { request: true, response: true } });
    expect(await rows(multi, "SELECT v FROM t.kv WHERE k = {k:String}", { k: "it's a \\ backslash\ttab" })).toEqual([
      { v: "2" },
    ]);
    await multi.insert({ table: "t.kv", values: [{ k: "gz", v: 3 }], format: "JSONEachRow" });
    expect(await rows(client, "SELECT v FROM t.kv WHERE k = 'gz'")).toEqual([{ v: "3" }]);
  });

  it("applies settings to their own request only", async () => {
    await expect(
      client.query({
        query: "SELECT k FROM t.kv",
        format: "JSONEachRow",
        clickhouse_settings: { max_result_rows: "1" },
      }),
    ).rejects.toMatchObject({ code: "396" });
    expect((await rows(client, "SELECT k FROM t.kv")).length).toBe(3);
  });

  it("raises server errors as ClickHouseError with code and type", async () => {
    const syntax = await client.query({ query: "SELEC 1" }).catch((e) => e);
    expect(syntax).toBeInstanceOf(ClickHouseError);
    expect(syntax).toMatchObject({ code: "62", type: "SYNTAX_ERROR" });
    await expect(client.query({ query: "SELECT * FROM t.nope" })).rejects.toMatchObject({ code: "60" });
    await expect(
      client.query({ query: "SELECT 1", clickhouse_settings: { "no such; DROP": 1 } as never }),
    ).rejects.toMatchObject({ code: "115" });
  });

  it("refuses wrong credentials, and runs nothing", async () => {
    const bad = connect({ url: `http://127.0.0.1:${front.port}`, username: "cognive", password: "wrong" });
    await expect(bad.command({ query: "DROP TABLE t.kv" })).rejects.toMatchObject({
      code: "516",
      type: "AUTHENTICATION_FAILED",
    });
    const res = await fetch(`http://127.0.0.1:${front.port}/?query=SELECT%201`, { method: "POST" });
    expect(res.status).toBe(403);
    expect(res.headers.get("x-clickhouse-exception-code")).toBe("516");
    expect((await rows(client, "SELECT count() AS n FROM t.kv"))[0].n).toBe("3");
  });

  it("refuses writes over GET, oversized bodies, bad gzip and HTTP sessions with ClickHouse-shaped errors", async () => {
    const auth = { "x-clickhouse-user": "cognive", "x-clickhouse-key": "s3cret" };
    const base = `http://127.0.0.1:${front.port}/`;
    const get = await fetch(`${base}?query=${encodeURIComponent("INSERT INTO t.kv VALUES ('get', 9)")}`, {
      headers: auth,
    });
    expect(get.status).toBe(403);
    expect(await get.text()).toMatch(/^Code: 164\. DB::Exception: .*readonly/);

    const small = await startChdbHttp({ dataDir: join(dir, "data"), maxBodyBytes: 1024 });
    try {
      const big = await fetch(
        `http://127.0.0.1:${small.port}/?query=${encodeURIComponent("INSERT INTO t.kv FORMAT TSV")}`,
        {
          method: "POST",
          body: `big\t1\n${"x".repeat(4096)}\t2\n`,
        },
      );
      expect(big.status).toBe(413);
      expect(small.statements).toEqual([]);
    } finally {
      await small.close();
    }

    const gz = await fetch(`${base}?query=${encodeURIComponent("INSERT INTO t.kv FORMAT TSV")}`, {
      method: "POST",
      headers: { ...auth, "content-encoding": "gzip" },
      body: gzipSync("a\t1\n").subarray(0, 8),
    });
    expect(gz.status).toBe(400);
    expect(gz.headers.get("x-clickhouse-exception-code")).toBe("432");

    const session = await fetch(`${base}?session_id=abc&query=SELECT%201`, { method: "POST", headers: auth });
    expect(session.status).toBe(400);
    expect((await rows(client, "SELECT count() AS n FROM t.kv"))[0].n).toBe("3");
  });
});
