import type { Context } from "hono";
import { z } from "zod";
import { badRequest } from "./errors.ts";

/** Largest instant DateTime64(9) holds as Int64 nanoseconds (year 2262). */
export const MAX_NS = 9_223_372_036_854_775_807n;
export const NS_PER_S = 1_000_000_000n;
export const DAY_NS = 86_400n * NS_PER_S;

/** Unix seconds, integer or decimal (up to nanoseconds), exactly converted to bigint nanoseconds. */
export const unixSeconds = z
  .string()
  .regex(/^\d{1,11}(\.\d{1,9})?$/, "expected Unix seconds, e.g. 1700000000 or 1700000000.25")
  .transform((s) => {
    const [whole, frac = ""] = s.split(".");
    return BigInt(whole) * NS_PER_S + BigInt(frac.padEnd(9, "0"));
  })
  .refine((ns) => ns <= MAX_NS, "beyond the year 2262")
  .describe("Unix time in seconds; decimals allowed");

/** A non-negative integer within [min, max], written in plain decimal digits. */
export function intParam(min: number, max: number, description: string) {
  return z
    .string()
    .regex(/^\d{1,15}$/, "expected a non-negative integer")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .describe(`${description} (${min}..${max})`);
}

/** A non-negative decimal number, written in plain digits. */
export function decimalParam(description: string) {
  return z
    .string()
    .regex(/^\d{1,15}(\.\d{1,9})?$/, "expected a non-negative number")
    .transform(Number)
    .describe(description);
}

/** A free-text filter value: non-empty, bounded, no control characters. */
export function textParam(description: string) {
  return z
    .string()
    .min(1)
    .max(512)
    .regex(/^[^\p{Cc}]*$/u, "control characters are not allowed")
    .describe(description);
}

export const timeRangeShape = {
  from: unixSeconds.optional(),
  to: unixSeconds.optional(),
};

export interface TimeRange {
  fromNs: bigint;
  toNs: bigint;
}

/** `to` defaults to now and `from` to 24 hours before `to`; `from` after `to` is a caller error. */
export function resolveRange(q: { from?: bigint; to?: bigint }, nowNs = BigInt(Date.now()) * 1_000_000n): TimeRange {
  const toNs = q.to ?? nowNs;
  const fromNs = q.from ?? (toNs > DAY_NS ? toNs - DAY_NS : 0n);
  if (fromNs > toNs) throw badRequest("query parameter 'from' must not be after 'to'");
  return { fromNs, toNs };
}

/**
 * Validates the query string against a strict object schema: unknown or repeated parameters and
 * values of the wrong shape are a 400 whose message names the parameter.
 */
export function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const all = c.req.queries();
  const flat: Record<string, string> = {};
  for (const [key, values] of Object.entries(all)) {
    if (values.length > 1) throw badRequest(`query parameter '${printable(key)}' is given more than once`);
    flat[key] = values[0];
  }
  const parsed = schema.safeParse(flat);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (issue.code === "unrecognized_keys") {
    throw badRequest(`unknown query parameter '${printable(issue.keys[0] ?? "")}'`);
  }
  const name = issue.path.map(String).join(".") || "query";
  throw badRequest(`invalid query parameter '${printable(name)}': ${issue.message}`);
}

/** A caller-given name, shortened and stripped of control characters before it goes into a message. */
function printable(s: string): string {
  const clean = s.replace(/\p{Cc}/gu, "?");
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}
