import type { Storage } from "./client.ts";

/** A time as ClickHouse reads a DateTime64 parameter or JSON value: `YYYY-MM-DD hh:mm:ss.sss`, UTC. */
export function chTime(t: string | Date): string {
  return (typeof t === "string" ? new Date(t) : t).toISOString().replace("T", " ").replace("Z", "");
}

/** Rows of one statement, values bound as `{name:Type}` parameters. */
export async function queryRows<T>(
  storage: Storage,
  query: string,
  params: Record<string, unknown> = {},
): Promise<T[]> {
  const rs = await storage.client.query({ query, query_params: params, format: "JSONEachRow" });
  return (await rs.json()) as T[];
}
