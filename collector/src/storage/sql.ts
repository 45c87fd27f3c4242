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

/** Splits SQL text such as a type's arguments at its top-level commas (not those in parentheses or quotes), trimmed. */
export function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === "'") quoted = false;
    } else if (c === "'") quoted = true;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(text.slice(start).trim());
  return out;
}
