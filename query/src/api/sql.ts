import { type Storage, TRACE_SUMMARY_TABLE } from "@cognive/collector";

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The database name, checked to be a plain identifier before it is placed in SQL text. */
export function databaseOf(storage: Storage): string {
  if (!IDENT.test(storage.database)) throw new Error(`invalid database name: ${JSON.stringify(storage.database)}`);
  return storage.database;
}

/**
 * Runs one read. Values travel only in `params` (bound as `{name:Type}`); `sql` is built from code
 * constants alone. 64-bit integers come back as strings (see the storage client's read settings).
 */
export async function select<T>(storage: Storage, sql: string, params: Record<string, unknown>): Promise<T[]> {
  const rs = await storage.client.query({ query: sql, query_params: params, format: "JSONEachRow" });
  return (await rs.json()) as T[];
}

/** A UInt64 as JSON (a string) to a number; counts and tokens stay far below 2^53 in practice. */
export function num(v: string | number | null | undefined): number {
  return v === null || v === undefined ? 0 : Number(v);
}

/**
 * The per-trace summary rows of every trace with a row starting in [{fromNs}, {toNs}] (Int64 Unix
 * nanosecond parameters), for `FROM` … `GROUP BY TraceId`: the summary holds one partial row per
 * insert, so a trace's figures are re-aggregated across all its rows, and a `HAVING` on the
 * aggregated start keeps only traces that truly start in the range.
 */
export function summaryRowsOfRange(db: string): string {
  return `${db}.${TRACE_SUMMARY_TABLE}
    WHERE TraceId IN (
      SELECT TraceId FROM ${db}.${TRACE_SUMMARY_TABLE}
      WHERE Start BETWEEN fromUnixTimestamp64Nano({fromNs:Int64}) AND fromUnixTimestamp64Nano({toNs:Int64})
    )`;
}
