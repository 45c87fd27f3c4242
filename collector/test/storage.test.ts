import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorage, type Storage } from "../src/storage/client.ts";
import { migrate } from "../src/storage/migrate.ts";
import { migrations } from "../src/storage/schema.ts";
import { tsvMap, tsvNanos, tsvString, tsvStringArray } from "../src/storage/tsv.ts";

let storage: Storage;
const dir = mkdtempSync(join(tmpdir(), "cognive-storage-"));
beforeAll(async () => {
  storage = createStorage({ dataDir: dir, database: "cognive" });
  await migrate(storage);
});
afterAll(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

describe("migrations", () => {
  it("apply once and are idempotent", async () => {
    expect(await migrate(storage)).toBe(0);
    const rs = await storage.client.query({
      query: "SELECT max(Version) AS v FROM cognive.schema_migrations",
      format: "JSONEachRow",
    });
    expect(Number(((await rs.json()) as { v: string }[])[0].v)).toBe(migrations.at(-1)?.version);
    // Running every statement again must not fail either (a half-applied migration re-runs).
    for (const m of migrations)
      for (const s of m.statements) await storage.client.command({ query: s.replaceAll("{db}", "cognive") });
  });

  it("reject a database name that is not an identifier", () => {
    expect(() => createStorage({ dataDir: dir, database: "x`; DROP" })).toThrow(/invalid database name/);
  });
});

describe("TSV encoding round-trips through ClickHouse", () => {
  it("keeps hostile strings byte for byte in plain, Map and Array columns", async () => {
    const nasty = [
      "tab\there",
      "new\nline",
      "cr\rret",
      "back\\slash",
      "quote'single",
      'dq"',
      "nul\0byte",
      "ünï🚀",
      "\\N",
      "'); DROP TABLE x; --",
    ];
    await storage.client.command({
      query:
        "CREATE TABLE IF NOT EXISTS cognive.tsv_rt (I UInt32, S String, M Map(String, String), A Array(String), T DateTime64(9)) ENGINE = MergeTree ORDER BY I",
    });
    const rows = nasty.map(
      (s, i) =>
        `${i}\t${tsvString(s)}\t${tsvMap({ [s]: s, k: s })}\t${tsvStringArray([s, "x"])}\t${tsvNanos(1700000000123456789n + BigInt(i))}\n`,
    );
    await storage.insertTsv("tsv_rt", ["I", "S", "M", "A", "T"], rows.join(""));
    const rs = await storage.client.query({
      query: "SELECT I, S, M, A, toString(toUnixTimestamp64Nano(T)) AS T FROM cognive.tsv_rt ORDER BY I",
      format: "JSONEachRow",
    });
    const back = (await rs.json()) as { I: number; S: string; M: Record<string, string>; A: string[]; T: string }[];
    expect(back).toHaveLength(nasty.length);
    back.forEach((r, i) => {
      expect(r.S).toBe(nasty[i]);
      expect(r.M).toEqual({ [nasty[i]]: nasty[i], k: nasty[i] });
      expect(r.A).toEqual([nasty[i], "x"]);
      expect(r.T).toBe(String(1700000000123456789n + BigInt(i)));
    });
  });
});
