import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStorage, type Storage, TABLE_SETTINGS, tableHasSetting } from "@cognive/collector";
import { afterAll, describe, expect, it } from "vitest";
import { startTestServer } from "../helpers/server.ts";

const BIN = join(new URL("../..", import.meta.url).pathname, "bin/cognive.js");
const dir = mkdtempSync(join(tmpdir(), "cognive-retention-"));
afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));

async function showCreate(storage: Storage, table: string): Promise<string> {
  const rs = await storage.client.query({ query: `SHOW CREATE TABLE cognive.${table}`, format: "JSONEachRow" });
  const [r] = (await rs.json()) as { statement: string }[];
  return r.statement;
}

/** The TTL of the span, log and rollup tables, as SHOW CREATE TABLE prints it. */
async function ttls(storage: Storage): Promise<string[]> {
  const out: string[] = [];
  for (const t of ["otel_traces", "otel_logs", "llm_rollup_1m"]) {
    out.push(/\bTTL\s+(.+?)\s+SETTINGS/s.exec(await showCreate(storage, t))?.[1] ?? "none");
  }
  return out;
}

describe("retention settings", () => {
  it("a restart with a new COGNIVE_RETENTION_DAYS changes the spans' and logs' TTL, and so does `cognive migrate`", async () => {
    const defaults = { COGNIVE_RETENTION_DAYS: "30", COGNIVE_ROLLUP_RETENTION_DAYS: "400" };
    const first = await startTestServer(defaults, dir);
    expect(await ttls(first.running.storage)).toEqual([
      "toDateTime(Timestamp) + toIntervalDay(30)",
      "TimestampTime + toIntervalDay(30)",
      "Minute + toIntervalDay(400)",
    ]);
    // The table settings are applied at the same start.
    const spanTable = await showCreate(first.running.storage, "otel_traces");
    for (const [name, value] of Object.entries(TABLE_SETTINGS))
      expect(tableHasSetting(spanTable, name, value)).toBe(true);
    await first.stop({ keepData: true });

    const second = await startTestServer({ ...defaults, COGNIVE_RETENTION_DAYS: "7" }, dir);
    expect(await ttls(second.running.storage)).toEqual([
      "toDateTime(Timestamp) + toIntervalDay(7)",
      "TimestampTime + toIntervalDay(7)",
      "Minute + toIntervalDay(400)",
    ]);
    await second.stop({ keepData: true });

    const r = spawnSync(process.execPath, [BIN, "migrate"], {
      env: {
        ...process.env,
        COGNIVE_DATA_DIR: dir,
        COGNIVE_LOG_LEVEL: "warn",
        COGNIVE_RETENTION_DAYS: "14",
        COGNIVE_ROLLUP_RETENTION_DAYS: "90",
      },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status).toBe(0);
    const storage = createStorage({ dataDir: dir, database: "cognive" });
    try {
      expect(await ttls(storage)).toEqual([
        "toDateTime(Timestamp) + toIntervalDay(14)",
        "TimestampTime + toIntervalDay(14)",
        "Minute + toIntervalDay(90)",
      ]);
    } finally {
      await storage.close();
    }
  }, 120_000);

  it("refuses to start on a retention that is not a whole number of days, naming the variable", () => {
    const r = spawnSync(process.execPath, [BIN, "start"], {
      env: { ...process.env, COGNIVE_DATA_DIR: join(dir, "other"), COGNIVE_RETENTION_DAYS: "forever" },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/invalid COGNIVE_RETENTION_DAYS="forever"/);
  });
});
