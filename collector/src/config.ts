import { z } from "zod";
import {
  DEFAULT_METRICS_RETENTION_DAYS,
  DEFAULT_RETENTION_DAYS,
  DEFAULT_ROLLUP_RETENTION_DAYS,
} from "./storage/schema.ts";

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
/** TTL dates are a ClickHouse DateTime, which ends in 2106: a longer retention would wrap round and expire everything. */
const retentionDays = positiveInt.max(20_000, "must be at most 20000 days (ClickHouse TTL dates end in 2106)");

/** Infrastructure settings, all from the environment; a bad value names its variable. */
export const envSchema = z.object({
  COGNIVE_HOST: z.string().min(1).default("127.0.0.1"),
  COGNIVE_OTLP_PORT: port.default(4318),
  COGNIVE_GRPC_PORT: port.default(4317),
  /** PEM certificate (chain) and private key paths: OTLP/gRPC over TLS when both are set. */
  COGNIVE_GRPC_TLS_CERT: z.string().min(1).optional(),
  COGNIVE_GRPC_TLS_KEY: z.string().min(1).optional(),
  COGNIVE_PORT: port.default(3300),
  COGNIVE_DATA_DIR: z.string().min(1).default("./data"),
  COGNIVE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a plain identifier")
    .default("cognive"),
  CLICKHOUSE_URL: z.url().optional(),
  /** A ClickHouse cluster name: migrations use the cluster DDL, writes go through the Distributed tables. */
  COGNIVE_CLUSTER: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "letters, digits and _ only")
    .optional(),
  REDIS_URL: z.url().optional(),
  NATS_URL: z.url().optional(),
  COGNIVE_POLICY: z.string().min(1).optional(),
  COGNIVE_LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  COGNIVE_MAX_BODY_BYTES: positiveInt.default(32 * 1024 * 1024),
  COGNIVE_BATCH_MAX_ROWS: positiveInt.default(100_000),
  COGNIVE_BATCH_LINGER_MS: z.coerce.number().int().min(0).default(15),
  /** Longest a due batch waits for requests still in the stage workers (see writer.ts); 0: never. */
  COGNIVE_BATCH_GATHER_MS: z.coerce.number().int().min(0).max(10_000).default(100),
  COGNIVE_QUEUE_MAX_ROWS: positiveInt.default(600_000),
  // Unset: 1 on embedded storage (the store shares these cores), 2 on a server (see server.ts).
  COGNIVE_WRITE_CONCURRENCY: positiveInt.max(16).optional(),
  /** Rows a batch needs before it is written beside an insert already running (smaller ones wait for it). */
  COGNIVE_BATCH_MIN_CONCURRENT_ROWS: z.coerce.number().int().min(0).default(4096),
  /**
   * Span rows as Native blocks (embedded: handed over through /dev/shm), RowBinary or TSV. Native
   * costs storage the least CPU a row (bench/RESULTS.md); the others stay for comparison.
   */
  COGNIVE_INSERT_FORMAT: z.enum(["tsv", "rowbinary", "native"]).default("native"),
  /**
   * When a span request is answered: once its rows are in storage ("storage"), or once they are in
   * the write-ahead log on disk ("wal"), loaded into storage within about COGNIVE_WAL_LOAD_MS.
   */
  COGNIVE_INGEST_ACK: z.enum(["storage", "wal"]).default("storage"),
  /** The write-ahead log's directory (default: wal/ in COGNIVE_DATA_DIR). */
  COGNIVE_WAL_DIR: z.string().min(1).optional(),
  /** Longest acknowledged rows wait in the write-ahead log before a load into storage. */
  COGNIVE_WAL_LOAD_MS: positiveInt.max(60_000).default(1000),
  /** Bytes of rows (Native) that start a load at once; one load takes at most this many. */
  COGNIVE_WAL_LOAD_BYTES: positiveInt.default(64 * 1024 * 1024),
  /** Bytes waiting for storage beyond which span requests are answered 503 until loads catch up. */
  COGNIVE_WAL_MAX_BYTES: positiveInt.default(512 * 1024 * 1024),
  COGNIVE_DEDUP_CAPACITY: positiveInt.default(2_000_000),
  /**
   * Worker threads that decode, normalize, price and encode span requests, off the thread that feeds
   * storage and answers reads; 0 does it all on the main thread.
   */
  COGNIVE_INGEST_WORKERS: z.coerce.number().int().min(0).max(16).default(1),
  /** Days OTLP metric points are kept (the metrics tables' TTL, changed at start when it differs). */
  COGNIVE_METRICS_RETENTION_DAYS: retentionDays.default(DEFAULT_METRICS_RETENTION_DAYS),
  /** Days spans, logs and the trace tables are kept (their TTL, changed at start when it differs). */
  COGNIVE_RETENTION_DAYS: retentionDays.default(DEFAULT_RETENTION_DAYS),
  /** Days rollups and alerts are kept; monthly budgets are rebuilt from this month's rollups, so at least 32. */
  COGNIVE_ROLLUP_RETENTION_DAYS: retentionDays
    .min(32, "must be at least 32 days (monthly budgets are rebuilt from the current month's rollups)")
    .default(DEFAULT_ROLLUP_RETENTION_DAYS),
  COGNIVE_RETRY_WINDOW_MINUTES: positiveInt.default(30),
  COGNIVE_MAX_TOKENS_PER_CALL: positiveInt.default(100_000_000),
  COGNIVE_MAX_DAYS_PER_REQUEST: positiveInt.max(90).default(31),
  COGNIVE_SHUTDOWN_TIMEOUT_SECONDS: positiveInt.default(10),
  COGNIVE_BUDGET_RECONCILE_SECONDS: z.coerce.number().int().min(0).default(60),
  /** Seconds between evaluations of budget forecasts and spend anomalies (0: never). */
  COGNIVE_SPEND_WATCH_SECONDS: z.coerce.number().int().min(0).default(60),
  COGNIVE_AUTH: z.enum(["off", "required"]).optional(),
  COGNIVE_ADMIN_KEY: z.string().min(32, "must be at least 32 characters (use a generated key)").optional(),
  COGNIVE_RATE_LIMIT_RPS: z.coerce.number().min(0).default(0),
  COGNIVE_RATE_LIMIT_SPANS_PER_SECOND: z.coerce.number().min(0).default(0),
  COGNIVE_CORS_ORIGINS: z.string().default(""),
  /** The SMTP server of email sinks (checked by smtpConfigFromEnv); the password is never logged. */
  COGNIVE_SMTP_HOST: z.string().optional(),
  COGNIVE_SMTP_PORT: z.string().optional(),
  COGNIVE_SMTP_SECURITY: z.string().optional(),
  COGNIVE_SMTP_USER: z.string().optional(),
  COGNIVE_SMTP_PASSWORD: z.string().optional(),
  COGNIVE_SMTP_FROM: z.string().optional(),
  COGNIVE_SMTP_CA_FILE: z.string().optional(),
  COGNIVE_INSTANCE: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, "letters, digits, '.', '_' and '-' only")
    .optional(),
});

export type EnvConfig = z.infer<typeof envSchema>;

const SECRET_VARIABLES = new Set(["COGNIVE_ADMIN_KEY"]);

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/** Whether the servers listen on loopback only. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith("127.");
}

/** Keys are required unless said otherwise; only a loopback-only server runs without them by default. */
export function authMode(config: Pick<EnvConfig, "COGNIVE_AUTH" | "COGNIVE_HOST">): "off" | "required" {
  return config.COGNIVE_AUTH ?? (isLoopback(config.COGNIVE_HOST) ? "off" : "required");
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function loadEnvConfig(env: Record<string, string | undefined> = process.env): EnvConfig {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== "") picked[key] = v;
  }
  const parsed = envSchema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue.path[0]);
    // A secret is never repeated back, not even in an error.
    const shown = SECRET_VARIABLES.has(name) ? "(hidden)" : JSON.stringify(picked[name]);
    throw new ConfigError(`invalid ${name}=${shown}: ${issue.message}`);
  }
  if ((parsed.data.COGNIVE_GRPC_TLS_CERT === undefined) !== (parsed.data.COGNIVE_GRPC_TLS_KEY === undefined)) {
    throw new ConfigError("COGNIVE_GRPC_TLS_CERT and COGNIVE_GRPC_TLS_KEY must be set together (or neither)");
  }
  if (parsed.data.COGNIVE_CLUSTER !== undefined && parsed.data.CLICKHOUSE_URL === undefined) {
    throw new ConfigError("COGNIVE_CLUSTER needs CLICKHOUSE_URL (embedded storage is a single node)");
  }
  if (parsed.data.COGNIVE_INGEST_ACK === "wal" && parsed.data.COGNIVE_INSERT_FORMAT !== "native") {
    throw new ConfigError("COGNIVE_INGEST_ACK=wal needs COGNIVE_INSERT_FORMAT=native (the log holds Native blocks)");
  }
  return parsed.data;
}
