import type { Logger } from "../log.ts";
import type { Storage } from "./client.ts";
import { METRICS_TABLES } from "./schema.ts";
import { queryRows } from "./sql.ts";

/** Days of the `TTL toDateTime(TimeUnix) + INTERVAL n DAY` a table's definition holds, or null. */
export function ttlDays(createQuery: string): number | null {
  const m = /TTL\s+toDateTime\(TimeUnix\)\s*\+\s*(?:toIntervalDay\((\d+)\)|INTERVAL\s+(\d+)\s+DAY)/i.exec(createQuery);
  return m ? Number(m[1] ?? m[2]) : null;
}

/**
 * Makes the metrics tables keep points `days` days (COGNIVE_METRICS_RETENTION_DAYS): a table whose
 * TTL says otherwise is altered, the others are left alone, so a start with the same setting costs
 * one read. Returns the tables altered.
 */
export async function applyMetricsRetention(storage: Storage, days: number, log?: Logger): Promise<string[]> {
  if (!Number.isInteger(days) || days <= 0) throw new Error(`invalid metrics retention: ${days} days`);
  const tables = Object.values(METRICS_TABLES);
  const rows = await queryRows<{ name: string; create_table_query: string }>(
    storage,
    "SELECT name, create_table_query FROM system.tables WHERE database = {db:String} AND name IN {tables:Array(String)}",
    { db: storage.database, tables },
  );
  const altered: string[] = [];
  for (const r of rows) {
    if (ttlDays(r.create_table_query) === days) continue;
    // Table and database names are code constants and a checked identifier; days an integer.
    await storage.client.command({
      query: `ALTER TABLE ${storage.database}.${r.name} MODIFY TTL toDateTime(TimeUnix) + INTERVAL ${days} DAY`,
    });
    altered.push(r.name);
  }
  if (altered.length > 0) log?.info("storage: metrics retention changed", { days, tables: altered });
  return altered;
}
