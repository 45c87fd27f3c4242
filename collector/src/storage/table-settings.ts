import type { Logger } from "../log.ts";
import type { Storage } from "./client.ts";
import { storedTables } from "./retention.ts";
import { RETENTION_TABLES } from "./schema.ts";
import { queryRows } from "./sql.ts";

/**
 * MergeTree settings of the tables that grow with what is ingested (those with a retention), where
 * storage knows them:
 * - no automatic column statistics. ClickHouse 26.4 on writes statistics (min/max, counts and distinct
 *   sketches of every column) into each part a merge makes, for a query optimizer our reads do not
 *   use (they name their sorting keys and skip indexes). On embedded storage that was 0.3-0.5 µs of
 *   merges a span stored, 4-6 % of them (bench/RESULTS.md, 2026-12-05 18:23);
 * - strings with their lengths inline, as ClickHouse wrote them before 25.11 (`with_size_stream`, its
 *   default since, keeps each String column's lengths in a stream of their own): merges 0.6-0.7 µs a span
 *   less (9 %) and the span table a fifth smaller (bench/RESULTS.md, 2026-12-05 18:43).
 */
export const TABLE_SETTINGS: Readonly<Record<string, string>> = {
  auto_statistics_types: "''",
  string_serialization_version: "'single_stream'",
};

/** Whether a table's definition already says `name = value`. */
export function tableHasSetting(createQuery: string, name: string, value: string): boolean {
  const at = createQuery.search(/\bSETTINGS\b/);
  return at >= 0 && createQuery.slice(at).includes(`${name} = ${value}`);
}

/**
 * Gives each table with a retention the settings of `TABLE_SETTINGS` that storage knows (a
 * server without one is left as it is), altering only the tables that lack them, so a start with
 * nothing to change costs two reads. Like retention, applied at every start after the migrations, so
 * a table a later migration creates gets them too. Returns the tables altered.
 */
export async function applyTableSettings(storage: Storage, log?: Logger, cluster?: string): Promise<string[]> {
  const known = await queryRows<{ name: string }>(
    storage,
    "SELECT name FROM system.merge_tree_settings WHERE name IN {names:Array(String)}",
    { names: Object.keys(TABLE_SETTINGS) },
  );
  const wanted = known.map((k) => [k.name, TABLE_SETTINGS[k.name]] as const);
  if (wanted.length === 0) return [];
  const { on, stored } = await storedTables(
    storage,
    RETENTION_TABLES.map((t) => t.table),
    cluster,
  );
  const altered: string[] = [];
  for (const t of stored) {
    const missing = wanted.filter(([name, value]) => !tableHasSetting(t.createQuery, name, value));
    if (missing.length === 0) continue;
    // Table names and settings are code constants, the database a checked identifier.
    await storage.client.command({
      query: `ALTER TABLE ${storage.database}.${t.name}${on} MODIFY SETTING ${missing
        .map(([name, value]) => `${name} = ${value}`)
        .join(", ")}`,
    });
    altered.push(t.name);
  }
  if (altered.length > 0) log?.info("storage: table settings applied", { settings: TABLE_SETTINGS, tables: altered });
  return altered;
}
