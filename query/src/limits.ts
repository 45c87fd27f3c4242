import { ConfigError } from "@cognive/collector";
import { z } from "zod";

/**
 * What one read may cost, and how many reads may run and wait at once. Every value comes from an
 * environment variable (below); a bad value stops start-up with a message naming the variable.
 */
export interface ReadLimits {
  /** ClickHouse `max_execution_time`: the only limit that stops the engine's own work. */
  timeoutSeconds: number;
  /** ClickHouse `max_memory_usage` of one read. */
  maxMemoryBytes: number;
  /** ClickHouse `max_rows_to_read` of one read (all tables and subqueries together). */
  maxRowsRead: number;
  /** ClickHouse `max_result_rows` of one read. */
  maxResultRows: number;
  /** ClickHouse `max_result_bytes` of one read (uncompressed, in memory). */
  maxResultBytes: number;
  /** Reads running at once; further reads wait in the queue. */
  concurrency: number;
  /** Reads waiting at once; further reads are refused (503). */
  queueSize: number;
  /** Longest wait in the queue before a read is refused (503). */
  queueWaitSeconds: number;
  /** PromQL: series of any one selector or result; TraceQL metrics: series of the answer. */
  maxSeries: number;
  /** PromQL: per-minute samples read from storage, and points (series × steps) of any one result. */
  maxSamples: number;
  /** Label names and values, series listings, tag values: at most this many, whatever `limit` asks. */
  maxValues: number;
  /** TraceQL metrics: points (series × steps) of one answer (Tempo's JSON spends ~45 bytes a point). */
  traceqlMaxPoints: number;
  /** TraceQL structural search (`>`, `>>`, `<`, `<<`, `~`): candidate traces read whole. */
  traceqlMaxTraces: number;
  /** TraceQL structural search: spans of the candidate traces. */
  traceqlMaxSpans: number;
}

/** Each limit's environment variable and default. */
export const LIMIT_ENV = {
  timeoutSeconds: { env: "COGNIVE_QUERY_TIMEOUT_SECONDS", default: 10 },
  maxMemoryBytes: { env: "COGNIVE_QUERY_MAX_MEMORY_BYTES", default: 1024 ** 3 },
  maxRowsRead: { env: "COGNIVE_QUERY_MAX_ROWS_READ", default: 200_000_000 },
  maxResultRows: { env: "COGNIVE_QUERY_MAX_RESULT_ROWS", default: 1_000_000 },
  maxResultBytes: { env: "COGNIVE_QUERY_MAX_RESULT_BYTES", default: 256 * 1024 ** 2 },
  concurrency: { env: "COGNIVE_QUERY_CONCURRENCY", default: 4 },
  queueSize: { env: "COGNIVE_QUERY_QUEUE_SIZE", default: 64 },
  queueWaitSeconds: { env: "COGNIVE_QUERY_QUEUE_WAIT_SECONDS", default: 5 },
  maxSeries: { env: "COGNIVE_QUERY_MAX_SERIES", default: 10_000 },
  maxSamples: { env: "COGNIVE_QUERY_MAX_SAMPLES", default: 5_000_000 },
  maxValues: { env: "COGNIVE_QUERY_MAX_VALUES", default: 10_000 },
  traceqlMaxPoints: { env: "COGNIVE_TRACEQL_MAX_POINTS", default: 1_000_000 },
  traceqlMaxTraces: { env: "COGNIVE_TRACEQL_MAX_TRACES", default: 2_000 },
  traceqlMaxSpans: { env: "COGNIVE_TRACEQL_MAX_SPANS", default: 50_000 },
} as const satisfies Record<keyof ReadLimits, { env: string; default: number }>;

const positiveInt = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/** Seconds may be fractional (a test may want 0.5 s); ClickHouse takes them as a float. */
const positiveSeconds = z.coerce.number().positive().max(86_400);

const SCHEMAS: Record<keyof ReadLimits, z.ZodType<number>> = {
  timeoutSeconds: positiveSeconds,
  maxMemoryBytes: positiveInt,
  maxRowsRead: positiveInt,
  maxResultRows: positiveInt,
  maxResultBytes: positiveInt,
  concurrency: positiveInt.max(64),
  queueSize: z.coerce.number().int().min(0).max(100_000),
  queueWaitSeconds: positiveSeconds,
  maxSeries: positiveInt,
  maxSamples: positiveInt,
  maxValues: positiveInt,
  traceqlMaxPoints: positiveInt,
  traceqlMaxTraces: positiveInt,
  traceqlMaxSpans: positiveInt,
};

/** A bad limit variable; start-up stops with its message, as for any other setting. */
export class LimitsConfigError extends ConfigError {
  override name = "LimitsConfigError";
}

/** The read limits from the environment; unset or empty variables take their defaults. */
export function readLimits(env: Record<string, string | undefined> = process.env): ReadLimits {
  const out = {} as ReadLimits;
  for (const key of Object.keys(LIMIT_ENV) as (keyof ReadLimits)[]) {
    const { env: name, default: fallback } = LIMIT_ENV[key];
    const raw = env[name];
    if (raw === undefined || raw.trim() === "") {
      out[key] = fallback;
      continue;
    }
    const parsed = SCHEMAS[key].safeParse(raw.trim());
    if (!parsed.success) {
      throw new LimitsConfigError(`invalid ${name}=${JSON.stringify(raw)}: ${parsed.error.issues[0].message}`);
    }
    out[key] = parsed.data;
  }
  return out;
}

/** The defaults alone, for reads outside an app (a test calling a read function directly). */
export const DEFAULT_LIMITS: ReadLimits = readLimits({});
