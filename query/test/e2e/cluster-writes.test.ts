import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStorage, migrate, SPAN_TABLE, type Storage, serverSettings, storageConfig } from "@cognive/collector";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChdbHttp, startChdbHttp } from "../helpers/chdb-http.ts";

// What COGNIVE_CLUSTER changes on the wire, seen by the test-only HTTP front for chDB (one node, so
// the tables are the single-node ones; the Testcontainers cluster test runs the same on shards).
describe("COGNIVE_CLUSTER writes", () => {
  const dir = mkdtempSync(join(tmpdir(), "cognive-cluster-writes-"));
  let front: ChdbHttp;
  let storage: Storage;

  beforeAll(async () => {
    front = await startChdbHttp({ dataDir: join(dir, "store") });
    const single = createStorage({ clickhouseUrl: front.url, dataDir: dir, database: "cognive" });
    await migrate(single);
    await single.close();
    storage = createStorage(
      storageConfig({
        CLICKHOUSE_URL: front.url,
        COGNIVE_DATA_DIR: dir,
        COGNIVE_DATABASE: "cognive",
        COGNIVE_CLUSTER: "c1",
      }),
    );
  }, 60_000);
  afterAll(async () => {
    await storage?.close();
    await front?.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });

  it("sends every request with distributed_foreground_insert=1 on a cluster, and none without", () => {
    expect(serverSettings("c1")).toMatchObject({ distributed_foreground_insert: 1 });
    expect(serverSettings()).not.toHaveProperty("distributed_foreground_insert");
    expect(serverSettings()).toMatchObject({ output_format_json_quote_64bit_integers: 1 });
  });

  it("inserts spans into the table's own name (the Distributed table), acknowledged in the foreground", async () => {
    expect(storage.cluster).toBe("c1");
    const before = front.statements.length;
    const now = new Date().toISOString().slice(0, 19).replace("T", " ");
    await storage.insertTsv(SPAN_TABLE, ["TraceId", "SpanId", "Timestamp"], `t1\ts1\t${now}\n`);
    const sent = front.statements.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain("SET distributed_foreground_insert = '1'");
    expect(sent[0]).toMatch(new RegExp(`INSERT INTO cognive\\.${SPAN_TABLE} \\(`));
    expect(sent[0]).not.toContain("_local");
    const rs = await storage.client.query({
      query: `SELECT count() AS n FROM cognive.${SPAN_TABLE} WHERE TraceId = 't1'`,
      format: "JSONEachRow",
    });
    expect(await rs.json()).toEqual([{ n: "1" }]);
  });

  it("refuses a cluster without a server, and a hostile cluster name", () => {
    expect(() => createStorage({ dataDir: dir, database: "cognive", cluster: "c1" })).toThrow(
      /needs a ClickHouse server/,
    );
    expect(() =>
      createStorage({ clickhouseUrl: front.url, dataDir: dir, database: "cognive", cluster: "c1; DROP TABLE x" }),
    ).toThrow(/invalid cluster name/);
  });
});
