/**
 * Versioned storage migrations. Each statement is idempotent (IF NOT EXISTS, or a backfill that
 * only writes into an empty table) so a migration interrupted half-way can simply run again. `{db}` is replaced by the configured database.
 * The span table keeps the OpenTelemetry Collector ClickHouse exporter's `otel_traces` columns so
 * Grafana's ClickHouse data source reads it as is; the GenAI columns come after them.
 */
import { MONEY_TYPE, spanTableAddColumns, spanTableColumnsDdl } from "./span-table.ts";
import { TRACE_DOC_ROW, TRACE_LOG_ROW } from "./trace-docs.ts";

export { SPAN_COLUMNS } from "./span-table.ts";

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

export const SPAN_TABLE = "otel_traces";
export const TRACE_TS_TABLE = "otel_traces_trace_id_ts";
/**
 * Where migrations 13, 21 and 27 build the re-sorted span table; after the swap, the old one until the
 * next migration (14, 22, 28) drops it.
 */
export const SPAN_RELAYOUT_TABLE = "otel_traces_relayout";
/** The span table's sorting key from migration 13 to 21: an hour, then the trace. */
export const HOUR_SORTING_KEY = "(toStartOfHour(Timestamp), TraceId)";
/** The span table's sorting key from migration 21 to 27: a minute, then the trace. */
export const MINUTE_SORTING_KEY = "(toStartOfMinute(Timestamp), TraceId)";
/**
 * The span table's sorting key since migration 27: ten seconds, then the trace. A search for the
 * newest matches reads the last seconds' granules, not the whole minute's; a trace's spans still sit
 * side by side within the ten seconds (trace reads use the trace documents).
 */
export const SPAN_SORTING_KEY = "(toStartOfInterval(Timestamp, toIntervalSecond(10)), TraceId)";
export const TRACE_SUMMARY_TABLE = "trace_summary";
/** The projection of `trace_summary` sorted by start (migration 25), for the newest traces first. */
export const TRACE_SUMMARY_BY_START = "by_start";
/** Each trace's spans as RowBinary rows, sorted by trace id: what a trace read reads (migration 19, `trace-docs.ts`). */
export const TRACE_DOCS_TABLE = "trace_docs";
/** Where migration 23 builds `trace_docs` with smaller granules; after its swap, the old one until migration 24 drops it. */
export const TRACE_DOCS_REBUILD_TABLE = "trace_docs_rebuild";
/** Where migration 29 builds `trace_summary` with smaller granules; after its swap, the old one until migration 30 drops it. */
export const TRACE_SUMMARY_REBUILD_TABLE = "trace_summary_rebuild";
/** The bloom filter of trace ids on the trace documents and summaries (migration 26). */
export const TRACE_ID_BLOOM = "idx_trace_id";
export const LLM_ROLLUP_TABLE = "llm_rollup_1m";
export const ALERTS_TABLE = "alerts";
export const ALERT_DELIVERIES_TABLE = "alert_deliveries";
export const LLM_HISTOGRAM_TABLE = "llm_histogram_1m";
export const AGENT_RUNS_TABLE = "agent_runs_1m";
export const STORAGE_PROBE_TABLE = "storage_probe";
export const API_KEYS_TABLE = "api_keys";
export const API_KEY_USAGE_TABLE = "api_key_usage";
export const AUDIT_TABLE = "audit_log";
export const REPORT_DELIVERIES_TABLE = "report_deliveries";
export const LOGS_TABLE = "otel_logs";
export const METRICS_TABLES = {
  gauge: "otel_metrics_gauge",
  sum: "otel_metrics_sum",
  histogram: "otel_metrics_histogram",
  exponentialHistogram: "otel_metrics_exp_histogram",
  summary: "otel_metrics_summary",
} as const;
/** Days metric points are kept unless COGNIVE_METRICS_RETENTION_DAYS says otherwise. */
export const DEFAULT_METRICS_RETENTION_DAYS = 30;
/** Days spans, logs and their trace tables are kept unless COGNIVE_RETENTION_DAYS says otherwise. */
export const DEFAULT_RETENTION_DAYS = 30;
/** Days per-minute rollups and alerts are kept unless COGNIVE_ROLLUP_RETENTION_DAYS says otherwise. */
export const DEFAULT_ROLLUP_RETENTION_DAYS = 400;

/** Which setting a table's TTL follows: spans (COGNIVE_RETENTION_DAYS), rollups (…_ROLLUP_…), metrics (…_METRICS_…). */
export type RetentionGroup = "spans" | "rollups" | "metrics";

/**
 * The tables that expire, each with the DateTime its TTL counts from (as ClickHouse prints it back).
 * The trace tables count from a trace's End, so a trace stays findable while any of its spans is kept.
 * Every one is partitioned by day or month with `ttl_only_drop_parts`: a part goes whole, once its
 * newest row is past the TTL. Keys, key usage, the audit log and migrations never expire.
 */
export const RETENTION_TABLES: readonly {
  table: string;
  group: RetentionGroup;
  ttl: string;
  /** The migration that created the table with its TTL, when after migration 12 (which set the others'). */
  since?: number;
}[] = [
  { table: SPAN_TABLE, group: "spans", ttl: "toDateTime(Timestamp)" },
  { table: LOGS_TABLE, group: "spans", ttl: "TimestampTime" },
  { table: TRACE_TS_TABLE, group: "spans", ttl: "End" },
  { table: TRACE_SUMMARY_TABLE, group: "spans", ttl: "toDateTime(End)" },
  { table: TRACE_DOCS_TABLE, group: "spans", ttl: "Start", since: 19 },
  { table: LLM_ROLLUP_TABLE, group: "rollups", ttl: "Minute" },
  { table: LLM_HISTOGRAM_TABLE, group: "rollups", ttl: "Minute" },
  { table: AGENT_RUNS_TABLE, group: "rollups", ttl: "Minute" },
  { table: ALERTS_TABLE, group: "rollups", ttl: "toDateTime(Time)" },
  { table: ALERT_DELIVERIES_TABLE, group: "rollups", ttl: "toDateTime(Time)" },
  ...Object.values(METRICS_TABLES).map((table) => ({ table, group: "metrics" as const, ttl: "toDateTime(TimeUnix)" })),
];

export const DEFAULT_RETENTION: Readonly<Record<RetentionGroup, number>> = {
  spans: DEFAULT_RETENTION_DAYS,
  rollups: DEFAULT_ROLLUP_RETENTION_DAYS,
  metrics: DEFAULT_METRICS_RETENTION_DAYS,
};

/** OTel GenAI semconv bucket bounds of `gen_ai.client.operation.duration`, in seconds. */
export const DURATION_BUCKETS_SECONDS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
] as const;
/** OTel GenAI semconv bucket bounds of `gen_ai.client.token.usage`. */
export const TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
] as const;

// Bucket i of a value v is the number of bounds below v: bounds[i-1] < v <= bounds[i] as Prometheus's
// `le`, and i = bounds.length is the +Inf bucket. Durations compare in integer nanoseconds, exactly.
const durationBoundsNs = `[${DURATION_BUCKETS_SECONDS.map((s) => Math.round(s * 1e9)).join(", ")}]`;
const tokenBounds = `[${TOKEN_BUCKETS.join(", ")}]`;

/** The model a call used: the response's when it names one, else the request's (costs, overview and alerts group by it). */
const MODEL = "if(GenAiResponseModel != '', GenAiResponseModel, GenAiRequestModel) AS Model";
/** Both models as sent, each its own column (and Prometheus label) since migration 11, so neither splits the other's series. */
const BOTH_MODELS = "GenAiRequestModel AS RequestModel, GenAiResponseModel AS ResponseModel";

/**
 * Per-minute histogram rows from model-call spans: one observation of the duration, and of input and
 * output tokens when the call reported any (a zero is "no usage reported", not an observation).
 * Sum is in the metric's unit (nanoseconds, tokens) so it stays an exact integer.
 */
const histogramSelect = (where: string, models = true) => `
       SELECT
         toStartOfMinute(Timestamp) AS Minute,
         TeamName, AgentName,
         ${MODEL},
         GenAiProvider AS Provider, Environment, ServiceName,${
           models
             ? `
         ${BOTH_MODELS},`
             : ""
         }
         tupleElement(obs, 1) AS Metric,
         tupleElement(obs, 2) AS Bucket,
         count() AS Count,
         sum(tupleElement(obs, 3)) AS Sum
       FROM {db}.${SPAN_TABLE}
       ARRAY JOIN arrayFilter(o -> tupleElement(o, 3) > 0 OR tupleElement(o, 1) = 'duration', [
         tuple('duration', toUInt8(arrayCount(b -> b < Duration, ${durationBoundsNs})), toUInt64(Duration)),
         tuple('input_tokens', toUInt8(arrayCount(b -> b < InputTokens, ${tokenBounds})), toUInt64(InputTokens)),
         tuple('output_tokens', toUInt8(arrayCount(b -> b < OutputTokens, ${tokenBounds})), toUInt64(OutputTokens))
       ]) AS obs
       WHERE GenAiUsageRole = 'model_call'${where}
       GROUP BY Minute, TeamName, AgentName, Model, Provider, Environment, ServiceName,${models ? " RequestModel, ResponseModel," : ""} Metric, Bucket`;

/** Per-minute agent runs: one agent run is one trace (as per-run budgets count it), counted at its root span. */
const runsSelect = (where: string) => `
       SELECT
         toStartOfMinute(Timestamp) AS Minute,
         TeamName, AgentName, Environment, ServiceName,
         count() AS Runs
       FROM {db}.${SPAN_TABLE}
       WHERE ParentSpanId = ''${where}
       GROUP BY Minute, TeamName, AgentName, Environment, ServiceName`;

/** The rows each derived table gets from spans; `where` (\`AND …\`) narrows it for a repair. */
const traceTsSelect = (where: string) => `
       SELECT TraceId, min(toDateTime(Timestamp)) AS Start, max(toDateTime(Timestamp)) AS End
       FROM {db}.${SPAN_TABLE} WHERE TraceId != ''${where} GROUP BY TraceId`;

const traceSummarySelect = (where: string) => `
       SELECT
         TraceId,
         min(Timestamp) AS Start,
         max(Timestamp + toIntervalNanosecond(Duration)) AS End,
         max(if(ParentSpanId = '', SpanName, '')) AS RootName,
         max(if(ParentSpanId = '', ServiceName, '')) AS RootService,
         max(if(ParentSpanId = '', Duration, 0)) AS RootDuration,
         count() AS SpanCount,
         countIf(StatusCode = 'Error') AS ErrorCount,
         sumIf(InputTokens, GenAiUsageRole = 'model_call') AS InputTokens,
         sumIf(OutputTokens, GenAiUsageRole = 'model_call') AS OutputTokens,
         sumIf(CostUsd, GenAiUsageRole = 'model_call') AS CostUsd,
         groupUniqArray(toString(ServiceName)) AS Services,
         groupUniqArrayIf(toString(AgentName), AgentName != '') AS Agents,
         groupUniqArrayIf(toString(TeamName), TeamName != '') AS Teams,
         groupUniqArrayIf(toString(if(GenAiResponseModel != '', GenAiResponseModel, GenAiRequestModel)),
           GenAiUsageRole = 'model_call' AND (GenAiResponseModel != '' OR GenAiRequestModel != '')) AS Models
       FROM {db}.${SPAN_TABLE}${where === "" ? "" : ` WHERE 1${where}`} GROUP BY TraceId`;

/** One document per trace and team of each insert: its spans' rows, one after the other. */
/** The log records a trace read shows: those that name a span. */
/**
 * A copy of the span table sorted by `key`, filled from it and swapped in (a sorting key cannot be
 * changed in place). The views follow the name, so they fire for the new table from the swap on and
 * never for the copy. Re-running after an interruption copies only the spans the copy still lacks (on
 * a cluster the copy lands on the shards before the insert returns, so before the swap). EXCHANGE is
 * the last statement, and the old table is dropped by the next migration only once this one is
 * recorded: a crash between the swap and the record swaps back on the re-run, keeping every span.
 * The copy has the default retention; a start with another COGNIVE_RETENTION_DAYS sets it again.
 */
function relayoutSpans(key: string): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS {db}.${SPAN_RELAYOUT_TABLE} AS {db}.${SPAN_TABLE}
      ENGINE = MergeTree
      PARTITION BY toDate(Timestamp)
      ORDER BY ${key}
      TTL toDateTime(Timestamp) + INTERVAL ${DEFAULT_RETENTION_DAYS} DAY
      SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, merge_selector_base = 20`,
    `INSERT INTO {db}.${SPAN_RELAYOUT_TABLE} SELECT * FROM {db}.${SPAN_TABLE}
       WHERE (TraceId, SpanId) GLOBAL NOT IN (SELECT TraceId, SpanId FROM {db}.${SPAN_RELAYOUT_TABLE})
       SETTINGS distributed_foreground_insert = 1`,
    `EXCHANGE TABLES {db}.${SPAN_TABLE} AND {db}.${SPAN_RELAYOUT_TABLE}`,
  ];
}

/**
 * A table filled again into a copy with another `engine` clause (granule or block sizes cannot be
 * altered) and swapped in; the views follow the name. The copy starts empty on every run, so a re-run
 * after an interruption (even after the swap, when the "copy" is the new table) copies each row once.
 */
function rebuildTable(table: string, copy: string, engine: string): string[] {
  return [
    `DROP TABLE IF EXISTS {db}.${copy}`,
    `CREATE TABLE IF NOT EXISTS {db}.${copy} AS {db}.${table}
      ${engine}`,
    `INSERT INTO {db}.${copy} SELECT * FROM {db}.${table}
       SETTINGS distributed_foreground_insert = 1`,
    `EXCHANGE TABLES {db}.${table} AND {db}.${copy}`,
  ];
}

/** The cost columns of spans and of the per-minute rollups. */
const COST_COLUMNS = ["CostInputUsd", "CostOutputUsd", "CostCacheReadUsd", "CostCacheWriteUsd", "CostUsd"];

/**
 * Float64 money columns of `table` made `type` (Decimal: exact sums). A cast from Float64 truncates,
 * and a cost such as 1.5e-8 is 14.999… nano-dollars as a double: each value is first moved to a
 * quarter nano-dollar above its nearest nano-dollar, so the cast keeps the nearest. That move is the
 * same when repeated and touches no column already converted, so a re-run after an interruption
 * changes nothing twice.
 */
function moneyToDecimal(table: string, columns: string[], type: string): string[] {
  const nudge = (c: string) => `${c} = if(${c} > 0, (round(toFloat64(${c}) * 1e9) + 0.25) / 1e9, toFloat64(${c}))`;
  return [
    `ALTER TABLE {db}.${table} UPDATE ${columns.map(nudge).join(", ")}
       WHERE toTypeName(${columns[0]}) LIKE '%Float64%' SETTINGS mutations_sync = 1`,
    `ALTER TABLE {db}.${table} ${columns.map((c) => `MODIFY COLUMN ${c} ${type}`).join(", ")}
       SETTINGS mutations_sync = 1`,
  ];
}

/** The log records a trace read shows: those that name a span. */
export const TRACE_LOG_FILTER = "TraceId != '' AND SpanId != ''";

/** The log documents' view SELECT (migration 20), narrowed by `where` (`AND …` on log columns) for a repair. */
export const traceLogDocsSelect = (where: string) => `
       SELECT TraceId, TeamName, min(TimestampTime) AS Start, 0 AS Spans, count() AS Logs,
         arrayStringConcat(groupArray(${TRACE_LOG_ROW})) AS Doc
       FROM {db}.${LOGS_TABLE} WHERE ${TRACE_LOG_FILTER}${where} GROUP BY TraceId, TeamName`;

const traceDocsSelect = (where: string) => `
       SELECT TraceId, TeamName, min(toDateTime(Timestamp)) AS Start, count() AS Spans,
         arrayStringConcat(groupArray(${TRACE_DOC_ROW})) AS Doc
       FROM {db}.${SPAN_TABLE} WHERE TraceId != ''${where} GROUP BY TraceId, TeamName`;

const rollupSelect = (where: string, models = true) => `
       SELECT
         toStartOfMinute(Timestamp) AS Minute,
         TeamName, AgentName,
         ${MODEL},
         GenAiProvider AS Provider, Environment, ServiceName,${
           models
             ? `
         ${BOTH_MODELS},`
             : ""
         }
         count() AS Calls,
         countIf(StatusCode = 'Error') AS Errors,
         countIf(Priced = 0) AS Unpriced,
         sum(InputTokens) AS InputTokens,
         sum(OutputTokens) AS OutputTokens,
         sum(CacheReadTokens) AS CacheReadTokens,
         sum(CacheWriteTokens) AS CacheWriteTokens,
         sum(ReasoningTokens) AS ReasoningTokens,
         sum(CostInputUsd) AS CostInputUsd,
         sum(CostOutputUsd) AS CostOutputUsd,
         sum(CostCacheReadUsd) AS CostCacheReadUsd,
         sum(CostCacheWriteUsd) AS CostCacheWriteUsd,
         sum(CostUsd) AS CostUsd,
         sum(Duration) AS DurationNs
       FROM {db}.${SPAN_TABLE}
       WHERE GenAiUsageRole = 'model_call'${where}
       GROUP BY Minute, TeamName, AgentName, Model, Provider, Environment, ServiceName${models ? ", RequestModel, ResponseModel" : ""}`;

/**
 * The tables materialized views fill from spans, each with the SELECT its view runs, so a repair
 * can rebuild some of their rows from the spans alone. `key` says how their rows are keyed.
 */
export interface DerivedTable {
  table: string;
  key: "trace" | "minute";
  columns: readonly string[];
  /** The view's SELECT (with `{db}`), narrowed by `where` (`AND …` on span columns). */
  select(where: string): string;
  /** Which of the table's rows come from spans, when not all do (a repair leaves the others alone). */
  fromSpans?: string;
}

/** The key of the per-minute model-call rollups: minute × team × agent × model × provider × environment × service × request and response model. */
const MODEL_MINUTE_KEY = [
  "Minute",
  "TeamName",
  "AgentName",
  "Model",
  "Provider",
  "Environment",
  "ServiceName",
  "RequestModel",
  "ResponseModel",
];

export const DERIVED_TABLES: readonly DerivedTable[] = [
  { table: TRACE_TS_TABLE, key: "trace", columns: ["TraceId", "Start", "End"], select: traceTsSelect },
  {
    table: TRACE_SUMMARY_TABLE,
    key: "trace",
    columns: [
      "TraceId",
      "Start",
      "End",
      "RootName",
      "RootService",
      "RootDuration",
      "SpanCount",
      "ErrorCount",
      "InputTokens",
      "OutputTokens",
      "CostUsd",
      "Services",
      "Agents",
      "Teams",
      "Models",
    ],
    select: traceSummarySelect,
  },
  {
    table: TRACE_DOCS_TABLE,
    key: "trace",
    columns: ["TraceId", "TeamName", "Start", "Spans", "Doc"],
    select: traceDocsSelect,
    // A trace's log documents (migration 20) come from otel_logs.
    fromSpans: "Logs = 0",
  },
  {
    table: LLM_ROLLUP_TABLE,
    key: "minute",
    columns: [
      ...MODEL_MINUTE_KEY,
      "Calls",
      "Errors",
      "Unpriced",
      "InputTokens",
      "OutputTokens",
      "CacheReadTokens",
      "CacheWriteTokens",
      "ReasoningTokens",
      "CostInputUsd",
      "CostOutputUsd",
      "CostCacheReadUsd",
      "CostCacheWriteUsd",
      "CostUsd",
      "DurationNs",
    ],
    select: rollupSelect,
  },
  {
    table: LLM_HISTOGRAM_TABLE,
    key: "minute",
    columns: [...MODEL_MINUTE_KEY, "Metric", "Bucket", "Count", "Sum"],
    select: histogramSelect,
  },
  {
    table: AGENT_RUNS_TABLE,
    key: "minute",
    columns: ["Minute", "TeamName", "AgentName", "Environment", "ServiceName", "Runs"],
    select: runsSelect,
  },
];

/** The columns every otel_metrics_* table starts with, as the ClickHouse exporter writes them. */
const METRIC_COLUMNS = `
        ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        ResourceSchemaUrl String CODEC(ZSTD(1)),
        ScopeName String CODEC(ZSTD(1)),
        ScopeVersion String CODEC(ZSTD(1)),
        ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
        ScopeSchemaUrl String CODEC(ZSTD(1)),
        ServiceName LowCardinality(String) CODEC(ZSTD(1)),
        MetricName String CODEC(ZSTD(1)),
        MetricDescription String CODEC(ZSTD(1)),
        MetricUnit String CODEC(ZSTD(1)),
        Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
        TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),`;
const EXEMPLARS = `Exemplars Nested (
          FilteredAttributes Map(LowCardinality(String), String),
          TimeUnix DateTime64(9),
          Value Float64,
          SpanId String,
          TraceId String
        ) CODEC(ZSTD(1)),`;

/** One otel_metrics_* table: the shared columns, the kind's own (`columns`, each ending in a comma), the team. */
const metricsTable = (
  table: string,
  columns: string,
) => `CREATE TABLE IF NOT EXISTS {db}.${table} (${METRIC_COLUMNS}${columns}
        TeamName LowCardinality(String) CODEC(ZSTD(1))
      ) ENGINE = MergeTree
      PARTITION BY toDate(TimeUnix)
      ORDER BY (TeamName, ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))
      TTL toDateTime(TimeUnix) + INTERVAL ${DEFAULT_METRICS_RETENTION_DAYS} DAY
      SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1`;

export const migrations: Migration[] = [
  {
    version: 1,
    name: "spans, trace lookup, trace summary, per-minute LLM rollup",
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.${SPAN_TABLE} (
${spanTableColumnsDdl()},
        INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
        INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
        INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
        INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
        INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
        INDEX idx_duration Duration TYPE minmax GRANULARITY 1,
        INDEX idx_lower_span_name lower(SpanName) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8,
        INDEX idx_model GenAiRequestModel TYPE set(256) GRANULARITY 4,
        INDEX idx_agent AgentName TYPE set(256) GRANULARITY 4
      ) ENGINE = MergeTree
      PARTITION BY toDate(Timestamp)
      ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)
      SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, merge_selector_base = 20`,

      `CREATE TABLE IF NOT EXISTS {db}.${TRACE_TS_TABLE} (
        TraceId String CODEC(ZSTD(1)),
        Start SimpleAggregateFunction(min, DateTime) CODEC(Delta, ZSTD(1)),
        End SimpleAggregateFunction(max, DateTime) CODEC(Delta, ZSTD(1)),
        INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
      ) ENGINE = AggregatingMergeTree
      PARTITION BY toDate(Start)
      ORDER BY TraceId
      SETTINGS merge_selector_base = 20`,

      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.${TRACE_TS_TABLE}_mv TO {db}.${TRACE_TS_TABLE} AS
       ${traceTsSelect("")}`,

      `CREATE TABLE IF NOT EXISTS {db}.${TRACE_SUMMARY_TABLE} (
        TraceId String CODEC(ZSTD(1)),
        Start SimpleAggregateFunction(min, DateTime64(9)),
        End SimpleAggregateFunction(max, DateTime64(9)),
        RootName SimpleAggregateFunction(max, String),
        RootService SimpleAggregateFunction(max, String),
        RootDuration SimpleAggregateFunction(max, UInt64),
        SpanCount SimpleAggregateFunction(sum, UInt64),
        ErrorCount SimpleAggregateFunction(sum, UInt64),
        InputTokens SimpleAggregateFunction(sum, UInt64),
        OutputTokens SimpleAggregateFunction(sum, UInt64),
        CostUsd SimpleAggregateFunction(sum, Float64),
        Services SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
        Agents SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
        Teams SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
        Models SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
        INDEX idx_start Start TYPE minmax GRANULARITY 1
      ) ENGINE = AggregatingMergeTree
      PARTITION BY toDate(Start)
      ORDER BY TraceId
      SETTINGS merge_selector_base = 20`,

      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.${TRACE_SUMMARY_TABLE}_mv TO {db}.${TRACE_SUMMARY_TABLE} AS
       ${traceSummarySelect("")}`,

      `CREATE TABLE IF NOT EXISTS {db}.${LLM_ROLLUP_TABLE} (
        Minute DateTime CODEC(Delta, ZSTD(1)),
        TeamName LowCardinality(String),
        AgentName LowCardinality(String),
        Model LowCardinality(String),
        Provider LowCardinality(String),
        Environment LowCardinality(String),
        ServiceName LowCardinality(String),
        Calls UInt64,
        Errors UInt64,
        Unpriced UInt64,
        InputTokens UInt64,
        OutputTokens UInt64,
        CacheReadTokens UInt64,
        CacheWriteTokens UInt64,
        ReasoningTokens UInt64,
        CostInputUsd Float64,
        CostOutputUsd Float64,
        CostCacheReadUsd Float64,
        CostCacheWriteUsd Float64,
        CostUsd Float64,
        DurationNs UInt64
      ) ENGINE = SummingMergeTree
      PARTITION BY toYYYYMM(Minute)
      ORDER BY (Minute, TeamName, AgentName, Model, Provider, Environment, ServiceName)
      SETTINGS merge_selector_base = 20`,

      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.${LLM_ROLLUP_TABLE}_mv TO {db}.${LLM_ROLLUP_TABLE} AS
       ${rollupSelect("", false)}`,
    ],
  },
  {
    version: 2,
    name: "alerts and their deliveries",
    statements: [
      // Every collector that sees the same event computes the same alert id: replacing by id keeps one.
      `CREATE TABLE IF NOT EXISTS {db}.${ALERTS_TABLE} (
        Id String,
        Kind LowCardinality(String),
        Time DateTime64(3, 'UTC'),
        Agent LowCardinality(String),
        Team LowCardinality(String),
        TraceId String,
        Model LowCardinality(String),
        Tool LowCardinality(String),
        ScopeType LowCardinality(String),
        ScopeName LowCardinality(String),
        Window LowCardinality(String),
        Threshold Float64,
        SpendUsd Float64,
        LimitUsd Float64
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toYYYYMM(Time)
      ORDER BY Id`,
      `CREATE TABLE IF NOT EXISTS {db}.${ALERT_DELIVERIES_TABLE} (
        AlertId String,
        Sink LowCardinality(String),
        Status LowCardinality(String),
        Attempts UInt16,
        LastError String,
        Time DateTime64(3, 'UTC') DEFAULT now64(3)
      ) ENGINE = MergeTree
      PARTITION BY toYYYYMM(Time)
      ORDER BY (AlertId, Time)`,
    ],
  },
  {
    version: 3,
    name: "per-minute LLM histograms (duration, tokens) and agent runs, backfilled from stored spans",
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.${LLM_HISTOGRAM_TABLE} (
        Minute DateTime CODEC(Delta, ZSTD(1)),
        Metric LowCardinality(String),
        TeamName LowCardinality(String),
        AgentName LowCardinality(String),
        Model LowCardinality(String),
        Provider LowCardinality(String),
        Environment LowCardinality(String),
        ServiceName LowCardinality(String),
        Bucket UInt8,
        Count UInt64,
        Sum UInt64
      ) ENGINE = SummingMergeTree
      PARTITION BY toYYYYMM(Minute)
      ORDER BY (Minute, Metric, TeamName, AgentName, Model, Provider, Environment, ServiceName, Bucket)
      SETTINGS merge_selector_base = 20`,
      `CREATE TABLE IF NOT EXISTS {db}.${AGENT_RUNS_TABLE} (
        Minute DateTime CODEC(Delta, ZSTD(1)),
        TeamName LowCardinality(String),
        AgentName LowCardinality(String),
        Environment LowCardinality(String),
        ServiceName LowCardinality(String),
        Runs UInt64
      ) ENGINE = SummingMergeTree
      PARTITION BY toYYYYMM(Minute)
      ORDER BY (Minute, TeamName, AgentName, Environment, ServiceName)
      SETTINGS merge_selector_base = 20`,
      // Backfill before the views exist, and only into an empty table: a re-run after an interruption
      // past this point does not count the stored spans twice. (Spans written between the backfill and
      // the view's creation by a collector that is already running are not counted: migrate first.)
      `INSERT INTO {db}.${LLM_HISTOGRAM_TABLE} (Minute, TeamName, AgentName, Model, Provider, Environment, ServiceName, Metric, Bucket, Count, Sum)
       ${histogramSelect(
         `
         AND (SELECT count() FROM {db}.${LLM_HISTOGRAM_TABLE}) = 0`,
         false,
       )}`,
      `INSERT INTO {db}.${AGENT_RUNS_TABLE} (Minute, TeamName, AgentName, Environment, ServiceName, Runs)
       ${runsSelect(`
         AND (SELECT count() FROM {db}.${AGENT_RUNS_TABLE}) = 0`)}`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.${LLM_HISTOGRAM_TABLE}_mv TO {db}.${LLM_HISTOGRAM_TABLE} AS
       ${histogramSelect("", false)}`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.${AGENT_RUNS_TABLE}_mv TO {db}.${AGENT_RUNS_TABLE} AS
       ${runsSelect("")}`,
    ],
  },
  {
    version: 4,
    name: "storage write probe",
    statements: [
      // One row per probe while storage is failing: a write is the only proof that a full disk has room again.
      `CREATE TABLE IF NOT EXISTS {db}.${STORAGE_PROBE_TABLE} (Time DateTime)
       ENGINE = MergeTree ORDER BY Time TTL Time + INTERVAL 1 DAY`,
    ],
  },
  {
    version: 5,
    name: "API keys, their last use, and the audit log",
    statements: [
      // Append-only: a key's creation is one row, its revocation another; a revoked key stays revoked.
      `CREATE TABLE IF NOT EXISTS {db}.${API_KEYS_TABLE} (
        Id String,
        Hash String,
        Name String,
        Role LowCardinality(String),
        AllTeams UInt8,
        Teams Array(String),
        ExpiresAt Nullable(DateTime64(3, 'UTC')),
        RequestsPerSecond Float64,
        SpansPerSecond Float64,
        CreatedAt DateTime64(3, 'UTC'),
        RevokedAt Nullable(DateTime64(3, 'UTC'))
      ) ENGINE = MergeTree ORDER BY Id`,
      `CREATE TABLE IF NOT EXISTS {db}.${API_KEY_USAGE_TABLE} (
        Id String,
        LastUsedAt DateTime64(3, 'UTC')
      ) ENGINE = ReplacingMergeTree(LastUsedAt) ORDER BY Id`,
      // Hash-chained per writer (Chain): each row's Hash covers the previous row's Hash.
      `CREATE TABLE IF NOT EXISTS {db}.${AUDIT_TABLE} (
        Chain LowCardinality(String),
        Seq UInt64,
        Id String,
        Time DateTime64(3, 'UTC'),
        ActorId String,
        ActorName String,
        Source String,
        Action LowCardinality(String),
        Target String,
        Details String,
        PrevHash String,
        Hash String
      ) ENGINE = MergeTree ORDER BY (Chain, Seq)`,
    ],
  },
  {
    version: 6,
    name: "OTLP log records (the ClickHouse exporter's otel_logs columns, plus team)",
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.${LOGS_TABLE} (
        Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
        TimestampTime DateTime DEFAULT toDateTime(Timestamp),
        TraceId String CODEC(ZSTD(1)),
        SpanId String CODEC(ZSTD(1)),
        TraceFlags UInt8,
        SeverityText LowCardinality(String) CODEC(ZSTD(1)),
        SeverityNumber UInt8,
        ServiceName LowCardinality(String) CODEC(ZSTD(1)),
        Body String CODEC(ZSTD(1)),
        ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
        ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
        ScopeName String CODEC(ZSTD(1)),
        ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
        ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        EventName String CODEC(ZSTD(1)),
        TeamName LowCardinality(String) CODEC(ZSTD(1)),
        INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
        INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
        INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
        INDEX idx_event_name EventName TYPE set(256) GRANULARITY 4,
        INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
      ) ENGINE = MergeTree
      PARTITION BY toDate(TimestampTime)
      ORDER BY (ServiceName, TimestampTime, Timestamp)
      SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1`,
    ],
  },
  {
    version: 7,
    name: "OTLP metric points (the ClickHouse exporter's otel_metrics_* columns, plus team), with their own retention",
    statements: [
      metricsTable(
        METRICS_TABLES.gauge,
        `
        Value Float64 CODEC(ZSTD(1)),
        Flags UInt32 CODEC(ZSTD(1)),
        ${EXEMPLARS}`,
      ),
      metricsTable(
        METRICS_TABLES.sum,
        `
        Value Float64 CODEC(ZSTD(1)),
        Flags UInt32 CODEC(ZSTD(1)),
        ${EXEMPLARS}
        AggregationTemporality Int32 CODEC(ZSTD(1)),
        IsMonotonic Boolean CODEC(Delta, ZSTD(1)),`,
      ),
      metricsTable(
        METRICS_TABLES.histogram,
        `
        Count UInt64 CODEC(Delta, ZSTD(1)),
        Sum Float64 CODEC(ZSTD(1)),
        BucketCounts Array(UInt64) CODEC(ZSTD(1)),
        ExplicitBounds Array(Float64) CODEC(ZSTD(1)),
        ${EXEMPLARS}
        Flags UInt32 CODEC(ZSTD(1)),
        Min Float64 CODEC(ZSTD(1)),
        Max Float64 CODEC(ZSTD(1)),
        AggregationTemporality Int32 CODEC(ZSTD(1)),`,
      ),
      metricsTable(
        METRICS_TABLES.exponentialHistogram,
        `
        Count UInt64 CODEC(Delta, ZSTD(1)),
        Sum Float64 CODEC(ZSTD(1)),
        Scale Int32 CODEC(ZSTD(1)),
        ZeroCount UInt64 CODEC(ZSTD(1)),
        PositiveOffset Int32 CODEC(ZSTD(1)),
        PositiveBucketCounts Array(UInt64) CODEC(ZSTD(1)),
        NegativeOffset Int32 CODEC(ZSTD(1)),
        NegativeBucketCounts Array(UInt64) CODEC(ZSTD(1)),
        ${EXEMPLARS}
        Flags UInt32 CODEC(ZSTD(1)),
        Min Float64 CODEC(ZSTD(1)),
        Max Float64 CODEC(ZSTD(1)),
        AggregationTemporality Int32 CODEC(ZSTD(1)),`,
      ),
      metricsTable(
        METRICS_TABLES.summary,
        `
        Count UInt64 CODEC(Delta, ZSTD(1)),
        Sum Float64 CODEC(ZSTD(1)),
        ValueAtQuantiles Nested (
          Quantile Float64,
          Value Float64
        ) CODEC(ZSTD(1)),
        Flags UInt32 CODEC(ZSTD(1)),`,
      ),
    ],
  },
  {
    version: 8,
    name: "the OTLP type of each non-string span, resource, event and link attribute",
    // The string maps stay as the ClickHouse exporter writes them (Grafana's ClickHouse data source
    // reads them); beside each, the AnyValue field number (ATTR_TYPE) of its non-string keys only.
    // Rows written before, or by writers that know nothing of them, read as strings: empty maps.
    // The event and link type maps are not Nested subcolumns (`Events.…`): ClickHouse would then
    // refuse a JSONEachRow insert that leaves them out, and readers pad them to the events' count.
    statements: [
      `ALTER TABLE {db}.${SPAN_TABLE}
         ${spanTableAddColumns(8)}`,
    ],
  },
  // Versions 9 and 10 are not used.
  {
    version: 11,
    name: "request and response model as their own rollup columns, rebuilt from stored spans",
    statements: [
      // The views stop first so nothing is written while the rows are rebuilt (migrate before ingesting).
      `DROP VIEW IF EXISTS {db}.${LLM_ROLLUP_TABLE}_mv`,
      `DROP VIEW IF EXISTS {db}.${LLM_HISTOGRAM_TABLE}_mv`,
      // In the sorting key: a SummingMergeTree would otherwise keep one arbitrary value per key.
      `ALTER TABLE {db}.${LLM_ROLLUP_TABLE}
         ADD COLUMN IF NOT EXISTS RequestModel LowCardinality(String) AFTER ServiceName,
         ADD COLUMN IF NOT EXISTS ResponseModel LowCardinality(String) AFTER RequestModel,
         MODIFY ORDER BY (Minute, TeamName, AgentName, Model, Provider, Environment, ServiceName, RequestModel, ResponseModel)`,
      `ALTER TABLE {db}.${LLM_HISTOGRAM_TABLE}
         ADD COLUMN IF NOT EXISTS RequestModel LowCardinality(String) AFTER ServiceName,
         ADD COLUMN IF NOT EXISTS ResponseModel LowCardinality(String) AFTER RequestModel,
         MODIFY ORDER BY (Minute, Metric, TeamName, AgentName, Model, Provider, Environment, ServiceName, Bucket, RequestModel, ResponseModel)`,
      // Every minute that has model calls is rebuilt whole from its spans, so a re-run rebuilds the
      // same rows again instead of adding to them.
      ...[LLM_ROLLUP_TABLE, LLM_HISTOGRAM_TABLE].flatMap((table) => {
        const d = DERIVED_TABLES.find((t) => t.table === table) as DerivedTable;
        return [
          `DELETE FROM {db}.${table} WHERE Minute IN (
             SELECT DISTINCT toStartOfMinute(Timestamp) FROM {db}.${SPAN_TABLE} WHERE GenAiUsageRole = 'model_call')`,
          `INSERT INTO {db}.${table} (${d.columns.join(", ")}) ${d.select("")}`,
        ];
      }),
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.${LLM_ROLLUP_TABLE}_mv TO {db}.${LLM_ROLLUP_TABLE} AS
       ${rollupSelect("")}`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.${LLM_HISTOGRAM_TABLE}_mv TO {db}.${LLM_HISTOGRAM_TABLE} AS
       ${histogramSelect("")}`,
    ],
  },
  {
    version: 12,
    name: "retention: spans, logs and trace tables 30 days, rollups and alerts 400 days, whole parts dropped",
    // The defaults; a start (or `cognive migrate`) then sets what COGNIVE_*RETENTION_DAYS say.
    statements: RETENTION_TABLES.filter((t) => t.group !== "metrics" && t.since === undefined).flatMap((t) => [
      `ALTER TABLE {db}.${t.table} MODIFY SETTING ttl_only_drop_parts = 1`,
      `ALTER TABLE {db}.${t.table} MODIFY TTL ${t.ttl} + INTERVAL ${DEFAULT_RETENTION[t.group]} DAY`,
    ]),
  },
  {
    version: 13,
    name: "spans in trace order: an hour bucket, then the trace id, so a trace's spans share a granule or two",
    statements: relayoutSpans(HOUR_SORTING_KEY),
  },
  {
    version: 14,
    name: "the span table in its old order dropped",
    statements: [`DROP TABLE IF EXISTS {db}.${SPAN_RELAYOUT_TABLE}`],
  },
  // Version 15 belongs to another change.
  {
    version: 16,
    name: "skip indexes on conversation and user ids, for sessions and per-user reads",
    // A session page and a user filter look spans up by these ids without a service or name prefix
    // of the sorting key: a bloom filter skips the granules that cannot hold the id.
    statements: [
      `ALTER TABLE {db}.${SPAN_TABLE}
         ADD INDEX IF NOT EXISTS idx_conversation_id ConversationId TYPE bloom_filter(0.01) GRANULARITY 1,
         ADD INDEX IF NOT EXISTS idx_user_id UserId TYPE bloom_filter(0.01) GRANULARITY 1`,
      `ALTER TABLE {db}.${SPAN_TABLE} MATERIALIZE INDEX idx_conversation_id`,
      `ALTER TABLE {db}.${SPAN_TABLE} MATERIALIZE INDEX idx_user_id`,
    ],
  },
  {
    version: 17,
    name: "scheduled report deliveries, so each team's monthly report is sent once across restarts",
    statements: [
      // One row per attempt outcome; the latest per (month, team, sink) wins. Never expires (tiny).
      `CREATE TABLE IF NOT EXISTS {db}.${REPORT_DELIVERIES_TABLE} (
        Report LowCardinality(String),
        Month String,
        Team String,
        Sink String,
        Status LowCardinality(String),
        Attempts UInt16,
        LastError String,
        Time DateTime64(3, 'UTC')
      ) ENGINE = ReplacingMergeTree(Time)
      ORDER BY (Report, Month, Team, Sink)`,
    ],
  },
  {
    version: 18,
    name: "forecast and anomaly alerts: projected spend, the day a budget is reached, the usual spend",
    statements: [
      `ALTER TABLE {db}.${ALERTS_TABLE}
         ADD COLUMN IF NOT EXISTS ProjectedUsd Float64,
         ADD COLUMN IF NOT EXISTS ExceedsOn String,
         ADD COLUMN IF NOT EXISTS BaselineUsd Float64,
         ADD COLUMN IF NOT EXISTS WindowMinutes UInt16`,
    ],
  },
  {
    version: 19,
    name: "trace documents: a trace's spans as RowBinary rows in one column sorted by trace id, read from one small granule",
    // Reading a trace from the span table touches ~40 columns in every part holding it (tens of ms at
    // 10 M spans); a document is one column of a few KB. Granules are capped at 256 KB. RowBinary
    // costs the view a third of what JSON lines did (bench/RESULTS.md).
    // The backfill writes one document per span and streams (no grouping over the whole store). If it
    // is interrupted and runs again, or a cluster peer inserts meanwhile, a span can get two identical
    // rows: reads drop repeated rows, and a repair rewrites a trace whose row count disagrees.
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.${TRACE_DOCS_TABLE} (
        TraceId String CODEC(ZSTD(1)),
        TeamName LowCardinality(String),
        Start DateTime CODEC(Delta, ZSTD(1)),
        Spans UInt32,
        Doc String CODEC(ZSTD(1))
      ) ENGINE = MergeTree
      PARTITION BY toDate(Start)
      ORDER BY TraceId
      TTL Start + INTERVAL ${DEFAULT_RETENTION_DAYS} DAY
      SETTINGS index_granularity = 1024, index_granularity_bytes = 262144, ttl_only_drop_parts = 1, merge_selector_base = 20`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.${TRACE_DOCS_TABLE}_mv TO {db}.${TRACE_DOCS_TABLE} AS
       ${traceDocsSelect("")}`,
      `INSERT INTO {db}.${TRACE_DOCS_TABLE} (TraceId, TeamName, Start, Spans, Doc)
       SELECT TraceId, TeamName, toDateTime(Timestamp), 1, ${TRACE_DOC_ROW}
       FROM {db}.${SPAN_TABLE} WHERE TraceId != ''`,
    ],
  },
  {
    version: 20,
    name: "trace documents carry the trace's log records, so a trace read is one query",
    // Reading the logs apart cost a trace read a second query (~3.4 ms even on an empty log table at
    // 10 M spans). Log documents are rows with Logs > 0; like span documents they are written per
    // insert and backfilled one per record, and a record stored twice is read once.
    statements: [
      `ALTER TABLE {db}.${TRACE_DOCS_TABLE} ADD COLUMN IF NOT EXISTS Logs UInt32 DEFAULT 0 AFTER Spans`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.${TRACE_DOCS_TABLE}_logs_mv TO {db}.${TRACE_DOCS_TABLE} AS
       ${traceLogDocsSelect("")}`,
      `INSERT INTO {db}.${TRACE_DOCS_TABLE} (TraceId, TeamName, Start, Spans, Logs, Doc)
       SELECT TraceId, TeamName, TimestampTime, 0, 1, ${TRACE_LOG_ROW}
       FROM {db}.${LOGS_TABLE} WHERE ${TRACE_LOG_FILTER}`,
    ],
  },
  {
    version: 21,
    name: "spans sorted by minute, then trace id: a search for the newest matches reads minutes, not the hour",
    // With an hour first, finding the newest matches read every granule of the hour, as a trace's
    // random id scatters recent spans over all of them (at 10 M spans, 1,238 granules for a 7 s
    // window; by minute 36). Trace reads moved to the trace documents (migration 19), so the hour's
    // locality bought nothing any more. Re-sorting 10 M spans took 49 s here (and 30 s more to set a
    // retention other than the default on the copy again).
    statements: relayoutSpans(MINUTE_SORTING_KEY),
  },
  {
    version: 22,
    name: "the span table sorted by hour dropped",
    statements: [`DROP TABLE IF EXISTS {db}.${SPAN_RELAYOUT_TABLE}`],
  },
  {
    version: 23,
    name: "trace documents in 64 KB granules: a trace read decompresses a quarter as much",
    // A trace read decompresses the granule holding the trace: 64 KB granules read one in 2.7 against
    // 3.1-3.4 ms p50 and 3.1-3.5 against 6-17 ms p99 (raw chDB reads at 10 M spans; over HTTP the
    // difference is within the run-to-run spread, bench/RESULTS.md). The granule size of a table cannot be altered, so a copy is filled and
    // swapped in; the views follow the name. The copy starts empty on every run, so a re-run after an
    // interruption (even after the swap, when the "copy" is the new table) copies the documents once.
    // Documents written by a collector during the copy miss it: a repair rebuilds their spans'
    // documents (migrate before starting collectors, as for every copy).
    statements: rebuildTable(
      TRACE_DOCS_TABLE,
      TRACE_DOCS_REBUILD_TABLE,
      `ENGINE = MergeTree
      PARTITION BY toDate(Start)
      ORDER BY TraceId
      TTL Start + INTERVAL ${DEFAULT_RETENTION_DAYS} DAY
      SETTINGS index_granularity = 1024, index_granularity_bytes = 65536, ttl_only_drop_parts = 1, merge_selector_base = 20`,
    ),
  },
  {
    version: 24,
    name: "trace documents in 256 KB granules dropped",
    statements: [`DROP TABLE IF EXISTS {db}.${TRACE_DOCS_REBUILD_TABLE}`],
  },
  {
    version: 25,
    name: "trace summaries also sorted by start: a search finds the start of the n-th newest trace from the last granules",
    // The summary is sorted by trace id, so finding where the newest 1,000 traces begin read the start
    // of every trace in the range (23 ms raw at 10 M spans; 10 ms on the whole-second trace-id lookup).
    // A projection sorted by start answers it reading backwards from the end (4 ms). Merges of summary
    // rows rebuild it; a repair's delete drops it from the parts it touches, which are then read in
    // full until a merge rebuilds it (kept, it would still count the deleted rows).
    statements: [
      `ALTER TABLE {db}.${TRACE_SUMMARY_TABLE}
         MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild', lightweight_mutation_projection_mode = 'drop'`,
      `ALTER TABLE {db}.${TRACE_SUMMARY_TABLE} ADD PROJECTION IF NOT EXISTS ${TRACE_SUMMARY_BY_START} (SELECT Start, Teams ORDER BY Start)`,
      `ALTER TABLE {db}.${TRACE_SUMMARY_TABLE} MATERIALIZE PROJECTION ${TRACE_SUMMARY_BY_START} SETTINGS mutations_sync = 1`,
    ],
  },
  {
    version: 26,
    name: "bloom filters of trace ids on trace documents and summaries: a look-up by id skips the parts without it",
    // Trace ids are random, so every part's key range holds any id, and a look-up by id read one
    // granule in each part. The filters leave those out: at 10 M spans in 36 parts a trace's documents
    // read in 8.3 against 16.7-19.3 ms raw, 20 summaries in 36-39 against 80-86 ms (18 parts); about
    // 2 MB each. Added in place; existing parts get theirs from MATERIALIZE INDEX (seconds).
    statements: [
      `ALTER TABLE {db}.${TRACE_DOCS_TABLE} ADD INDEX IF NOT EXISTS ${TRACE_ID_BLOOM} TraceId TYPE bloom_filter(0.01) GRANULARITY 1`,
      `ALTER TABLE {db}.${TRACE_DOCS_TABLE} MATERIALIZE INDEX ${TRACE_ID_BLOOM} SETTINGS mutations_sync = 1`,
      `ALTER TABLE {db}.${TRACE_SUMMARY_TABLE} ADD INDEX IF NOT EXISTS ${TRACE_ID_BLOOM} TraceId TYPE bloom_filter(0.01) GRANULARITY 1`,
      `ALTER TABLE {db}.${TRACE_SUMMARY_TABLE} MATERIALIZE INDEX ${TRACE_ID_BLOOM} SETTINGS mutations_sync = 1`,
    ],
  },
  {
    version: 27,
    name: "spans sorted by ten seconds, then trace id: a search for the newest matches reads seconds, not the minute",
    // At a steady 13,500 spans/s a minute is 810,000 spans, and the newest 1,000 traces are the last
    // few seconds: by minute a search read the whole minute (447,000 rows for its first pass at 10 M
    // spans, 34 + 61 ms raw for both passes); by ten seconds 50,000 rows, 14 + 32 ms. The spans take
    // a fifth more disk (275 → 330 MiB at 10 M: fewer of a trace's spans are compressed together).
    // Re-sorting 10 M spans took 63 s here, with setting a retention other than the default again.
    statements: relayoutSpans(SPAN_SORTING_KEY),
  },
  {
    version: 28,
    name: "the span table sorted by minute dropped",
    statements: [`DROP TABLE IF EXISTS {db}.${SPAN_RELAYOUT_TABLE}`],
  },
  {
    version: 29,
    name: "trace summaries in granules of 256 rows and 8 KB blocks: a search's 20 summaries read a twentieth as much",
    // Trace ids are random, so a search's 20 traces are 20 granules of the summary, and each read
    // decompressed 8,192 rows in 64 KB+ blocks of every column: 33-35 ms raw at 10 M spans (1.4 M
    // traces). Granules of 256 rows in 8 KB blocks: 9-10 ms (256 rows in 64 KB blocks: 20 ms); 1 id
    // takes 6 ms either way, and the summary grows 77 -> 87 MiB. Granule and block sizes cannot be
    // altered, so a copy is filled and swapped in, as for migration 23 (the copy keeps the projection
    // and the bloom filter; a re-run after an interruption starts the copy again).
    statements: rebuildTable(
      TRACE_SUMMARY_TABLE,
      TRACE_SUMMARY_REBUILD_TABLE,
      `ENGINE = AggregatingMergeTree
      PARTITION BY toDate(Start)
      ORDER BY TraceId
      TTL toDateTime(End) + INTERVAL ${DEFAULT_RETENTION_DAYS} DAY
      SETTINGS index_granularity = 256, min_compress_block_size = 8192, max_compress_block_size = 8192,
        ttl_only_drop_parts = 1, merge_selector_base = 20,
        deduplicate_merge_projection_mode = 'rebuild', lightweight_mutation_projection_mode = 'drop'`,
    ),
  },
  {
    version: 30,
    name: "trace summaries in granules of 8,192 rows dropped",
    statements: [`DROP TABLE IF EXISTS {db}.${TRACE_SUMMARY_REBUILD_TABLE}`],
  },
  {
    version: 31,
    name: "money as Decimal(18, 9): costs in exact nano-dollars, summed without rounding error",
    // Float64 sums over millions of spans drift in the last digits and depend on the order of the
    // rows; integers of nano-dollars do not. The views that sum costs are made again so their
    // columns follow (a per-trace sum is Decimal(38, 9)).
    statements: [
      ...moneyToDecimal(SPAN_TABLE, COST_COLUMNS, `${MONEY_TYPE} CODEC(ZSTD(1))`),
      // A per-minute sum has no bound of one call's cost: Decimal(38, 9), which merges cannot overflow.
      ...moneyToDecimal(LLM_ROLLUP_TABLE, COST_COLUMNS, "Decimal(38, 9)"),
      ...moneyToDecimal(TRACE_SUMMARY_TABLE, ["CostUsd"], "SimpleAggregateFunction(sum, Decimal(38, 9))"),
      `DROP VIEW IF EXISTS {db}.${TRACE_SUMMARY_TABLE}_mv`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.${TRACE_SUMMARY_TABLE}_mv TO {db}.${TRACE_SUMMARY_TABLE} AS
       ${traceSummarySelect("")}`,
      `DROP VIEW IF EXISTS {db}.${LLM_ROLLUP_TABLE}_mv`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.${LLM_ROLLUP_TABLE}_mv TO {db}.${LLM_ROLLUP_TABLE} AS
       ${rollupSelect("")}`,
    ],
  },
];
