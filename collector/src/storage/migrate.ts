import type { Logger } from "../log.ts";
import type { Storage } from "./client.ts";
import { type Migration, migrations } from "./schema.ts";

/** Applies every migration newer than the recorded version. Safe to run any number of times. */
export async function migrate(storage: Storage, log?: Logger, list: Migration[] = migrations): Promise<number> {
  const db = storage.database;
  await storage.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  await storage.client.command({
    query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (Version UInt32, Name String, AppliedAt DateTime DEFAULT now())
            ENGINE = MergeTree ORDER BY Version`,
  });
  const rs = await storage.client.query({
    query: `SELECT max(Version) AS v FROM ${db}.schema_migrations`,
    format: "JSONEachRow",
  });
  const rows = (await rs.json()) as { v: number | string }[];
  const current = Number(rows[0]?.v ?? 0);
  let applied = 0;
  for (const m of list) {
    if (m.version <= current) continue;
    for (const statement of m.statements) {
      await storage.client.command({ query: statement.replaceAll("{db}", db) });
    }
    await storage.client.insert({
      table: `${db}.schema_migrations`,
      values: [{ Version: m.version, Name: m.name }],
      format: "JSONEachRow",
    });
    log?.info("storage: migration applied", { version: m.version, name: m.name });
    applied++;
  }
  return applied;
}
