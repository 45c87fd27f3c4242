import type { EnvConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Storage } from "./client.ts";
import { checkClusterName } from "./cluster.ts";
import { RETENTION_TABLES, type RetentionGroup } from "./schema.ts";
import { queryRows } from "./sql.ts";

export type RetentionDays = Record<RetentionGroup, number>;

/** The days each table group is kept, from the COGNIVE_*RETENTION_DAYS settings. */
export function retentionDays(
  config: Pick<
    EnvConfig,
    "COGNIVE_RETENTION_DAYS" | "COGNIVE_ROLLUP_RETENTION_DAYS" | "COGNIVE_METRICS_RETENTION_DAYS"
  >,
): RetentionDays {
  return {
    spans: config.COGNIVE_RETENTION_DAYS,
    rollups: config.COGNIVE_ROLLUP_RETENTION_DAYS,
    metrics: config.COGNIVE_METRICS_RETENTION_DAYS,
  };
}

/** The `TTL <expr> + INTERVAL n DAY` a table's definition holds, or null. */
export function tableTtl(createQuery: string): { expr: string; days: number } | null {
  const m = /\bTTL\s+(\S+)\s*\+\s*(?:toIntervalDay\((\d+)\)|INTERVAL\s+(\d+)\s+DAY)/i.exec(createQuery);
  return m ? { expr: m[1], days: Number(m[2] ?? m[3]) } : null;
}

/** Days of the TTL a table's definition holds, or null. */
export function ttlDays(createQuery: string): number | null {
  return tableTtl(createQuery)?.days ?? null;
}

/** A table of the schema as stored: `name` is each shard's local table on a cluster, else `table`. */
export interface StoredTable {
  table: string;
  name: string;
  createQuery: string;
}

/**
 * The stored definitions of the given schema tables that exist, and the clause an ALTER of them
 * takes: on a cluster the TTL and settings live on each shard's local table (`<table>_local`), altered
 * `ON CLUSTER`. What a start reads before it changes tables it finds different.
 */
export async function storedTables(
  storage: Storage,
  tables: readonly string[],
  cluster?: string,
): Promise<{ on: string; stored: StoredTable[] }> {
  const suffix = cluster ? "_local" : "";
  const on = cluster ? ` ON CLUSTER ${checkClusterName(cluster)}` : "";
  const rows = await queryRows<{ name: string; create_table_query: string }>(
    storage,
    "SELECT name, create_table_query FROM system.tables WHERE database = {db:String} AND name IN {tables:Array(String)} ORDER BY name",
    { db: storage.database, tables: tables.map((t) => t + suffix) },
  );
  return {
    on,
    stored: rows.map((r) => ({
      table: r.name.slice(0, r.name.length - suffix.length),
      name: r.name,
      createQuery: r.create_table_query,
    })),
  };
}

/**
 * Makes each table of the given groups keep rows the configured days: a table whose TTL says
 * otherwise is altered, the others are left alone, so a start with the same settings costs one read.
 * Returns the tables altered.
 */
export async function applyRetention(
  storage: Storage,
  days: Partial<RetentionDays>,
  log?: Logger,
  cluster?: string,
): Promise<string[]> {
  const wanted = new Map<string, { ttl: string; days: number }>();
  for (const t of RETENTION_TABLES) {
    const d = days[t.group];
    if (d === undefined) continue;
    if (!Number.isInteger(d) || d <= 0) throw new Error(`invalid ${t.group} retention: ${d} days`);
    wanted.set(t.table, { ttl: t.ttl, days: d });
  }
  if (wanted.size === 0) return [];
  const { on, stored } = await storedTables(storage, [...wanted.keys()], cluster);
  const altered: string[] = [];
  for (const t of stored) {
    const want = wanted.get(t.table);
    const have = tableTtl(t.createQuery);
    if (!want || (have?.expr === want.ttl && have.days === want.days)) continue;
    // Table and database names are code constants and a checked identifier; days an integer.
    await storage.client.command({
      query: `ALTER TABLE ${storage.database}.${t.name}${on} MODIFY TTL ${want.ttl} + INTERVAL ${want.days} DAY`,
    });
    altered.push(t.name);
  }
  if (altered.length > 0) log?.info("storage: retention changed", { days, tables: altered });
  return altered;
}
