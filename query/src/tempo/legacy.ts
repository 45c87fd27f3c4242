import { type Filter, parseDuration, parseField, TraceQLError, type TraceQuery } from "./traceql.ts";

/** `key=value key2="quoted value"` pairs; throws `TraceQLError` when the text is not logfmt. */
export function parseLogfmt(s: string): [string, string][] {
  const out: [string, string][] = [];
  const re = /\s*([^\s=]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/gy;
  let end = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    out.push([m[1], m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : (m[3] ?? "")]);
    end = re.lastIndex;
  }
  if (s.slice(end).trim() !== "") throw new TraceQLError("tags: expected logfmt key=value pairs");
  return out;
}

/** Tempo's pre-TraceQL search (`tags`, `minDuration`, `maxDuration`) as a one-spanset query. */
export function legacyQuery(tags: string, minDuration?: string, maxDuration?: string): TraceQuery {
  const parts: Filter[] = [];
  for (const [key, value] of parseLogfmt(tags)) {
    if (key === "status.code" || key === "status") {
      const v = value.toLowerCase().replace(/^status_code_/, "");
      parts.push({
        type: "cmp",
        field: { kind: "intrinsic", name: "status" },
        op: "=",
        value: { type: "keyword", value: v },
      });
      continue;
    }
    const field = key === "name" ? parseField("name") : (parseField(key) ?? parseField(`.${key}`));
    if (!field) continue;
    parts.push({ type: "cmp", field, op: "=", value: { type: "string", value } });
  }
  const min = minDuration ? parseDuration(minDuration) : undefined;
  const max = maxDuration ? parseDuration(maxDuration) : undefined;
  const traceDuration = { kind: "intrinsic", name: "traceDuration" } as const;
  if (min !== undefined)
    parts.push({ type: "cmp", field: traceDuration, op: ">=", value: { type: "number", value: min } });
  if (max !== undefined)
    parts.push({ type: "cmp", field: traceDuration, op: "<=", value: { type: "number", value: max } });
  const filter = parts.reduce<Filter>((acc, f) => (acc.type === "true" ? f : { type: "and", left: acc, right: f }), {
    type: "true",
  });
  return { spansets: { type: "spanset", filter }, select: [] };
}
