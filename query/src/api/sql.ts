import { type Storage, TRACE_SUMMARY_TABLE } from "@cognive/collector";
import type { ReadLimits } from "../limits.ts";
import { ReadAbortedError, ReadLimitError } from "./errors.ts";
import { NS_PER_S } from "./params.ts";
import { admit, limitsOf, readContext, readsOf } from "./reads.ts";
import { type QueryScope, teamCondition } from "./scope.ts";
import { Turns } from "./turn.ts";

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The database name, checked to be a plain identifier before it is placed in SQL text. */
export function databaseOf(storage: Storage): string {
  if (!IDENT.test(storage.database)) throw new Error(`invalid database name: ${JSON.stringify(storage.database)}`);
  return storage.database;
}

export interface SelectOptions {
  /** Stops waiting for this read (besides the request's own signal, which always applies). */
  signal?: AbortSignal;
}

/**
 * Runs one read. Values travel only in `params` (bound as `{name:Type}`); `sql` is built from code
 * constants alone. 64-bit integers come back as strings (see the storage client's read settings).
 *
 * Every read passes the store's read gate (at most N running, a bounded queue, a bounded wait; in a
 * request, the request holds its slot from its first read to its end) and carries its limits in its own `SETTINGS` clause, so ClickHouse itself stops a read that runs too
 * long, uses too much memory, reads too many rows or returns too many. (Settings given to the client
 * would become a `SET` that stays on a chDB connection for every later statement.) A read stopped
 * by a limit throws `ReadLimitError`; a full gate `ReadBusyError`.
 */
export async function select<T>(
  storage: Storage,
  sql: string,
  params: Record<string, unknown>,
  opts: SelectOptions = {},
): Promise<T[]> {
  if (topLevelClauses(sql).formatAt !== undefined) throw new Error("select() reads JSONEachRow: leave FORMAT out");
  return read(storage, sql, opts, async (client, query, signal) => {
    const rs = await client.query({ query, query_params: params, format: "JSONEachRow", abort_signal: signal });
    return parseRows<T>(rs.stream() as AsyncIterable<{ json(): unknown }[]>);
  });
}

/**
 * Runs one read like `select`, answered as RowBinary bytes: for reads of binary columns (trace
 * documents), which JSON would carry as base64 and parse twice.
 */
export async function selectRowBinary(
  storage: Storage,
  sql: string,
  params: Record<string, unknown>,
  opts: SelectOptions = {},
): Promise<Buffer> {
  if (topLevelClauses(sql).formatAt !== undefined) throw new Error("selectRowBinary() sets the FORMAT: leave it out");
  return read(storage, sql, opts, async (client, query, signal) => {
    const rs = await client.exec({ query: `${query}\nFORMAT RowBinary`, query_params: params, abort_signal: signal });
    const chunks: Buffer[] = [];
    for await (const chunk of rs.stream) chunks.push(chunk as Buffer);
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  });
}

/** One read through the gate, on a leased connection, with the limits in its SETTINGS clause. */
async function read<T>(
  storage: Storage,
  sql: string,
  opts: SelectOptions,
  run: (client: Storage["client"], query: string, signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  const reads = readsOf(storage);
  const limits = limitsOf(storage);
  const signal = combine(opts.signal, readContext.getStore()?.signal);
  const query = withReadSettings(
    sql,
    storage.kind === "chdb" ? { ...readSettings(limits), ...EMBEDDED_READ_PRIORITY } : readSettings(limits),
  );
  const release = await admit(reads, signal);
  let lease: ReturnType<typeof reads.checkout> | undefined;
  let healthy = false;
  try {
    lease = reads.checkout();
    reads.statements++;
    const out = await run(lease.client, query, signal);
    healthy = true;
    return out;
  } catch (err) {
    throw readError(err, limits, signal);
  } finally {
    lease?.done(healthy);
    release();
  }
}

/** Rows parsed between two turns of the event loop. */
const ROWS_PER_TURN = 5_000;

/** JSONEachRow rows, parsed a few thousand at a time so a large result does not hold up the process. */
async function parseRows<T>(batches: AsyncIterable<{ json(): unknown }[]>): Promise<T[]> {
  const out: T[] = [];
  let turns: Turns | undefined;
  for await (const rows of batches) {
    // The clock starts with the first rows, not while the statement ran.
    turns ??= new Turns(ROWS_PER_TURN);
    for (const row of rows) {
      out.push(row.json() as T);
      const turn = turns.add(1);
      if (turn) await turn;
    }
  }
  return out;
}

function combine(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (!a) return b;
  if (!b) return a;
  return AbortSignal.any([a, b]);
}

/**
 * The SETTINGS of a small read by key (a trace's documents, the search's cutoff): one thread, and
 * the legacy query analyzer, which plans such a statement 1-2 ms faster (at 10 M spans: a trace's
 * documents 6.5 -> 5.4 ms raw, the cutoff 10.6 -> 8.7; bench/RESULTS.md). Only for statements with no
 * join, lambda or subquery, whose meaning both analyzers share.
 */
export const POINT_READ_SETTINGS = "SETTINGS max_threads = 1, enable_analyzer = 0";

/**
 * Embedded, reads and ingest share the process's cores: reads run their threads at a lower OS
 * priority (nice 10), so a heavy read slows ingest less (bench/read-under-ingest: ingest kept 63-67 %
 * of its rate under heavy reads, against 40-42 % without).
 */
const EMBEDDED_READ_PRIORITY = { os_thread_priority: 10 } as const;

/** The per-read ClickHouse settings of the limits. */
export function readSettings(limits: ReadLimits): Record<string, number | string> {
  return {
    max_execution_time: limits.timeoutSeconds,
    timeout_overflow_mode: "throw",
    max_memory_usage: limits.maxMemoryBytes,
    max_rows_to_read: limits.maxRowsRead,
    read_overflow_mode: "throw",
    max_result_rows: limits.maxResultRows,
    max_result_bytes: limits.maxResultBytes,
    result_overflow_mode: "throw",
  };
}

const WHAT_TO_NARROW = "narrow the time range, add filters or lower the limit";

const bytes = (n: number) =>
  n >= 1024 ** 3
    ? `${+(n / 1024 ** 3).toFixed(2)} GiB`
    : n >= 1024 ** 2
      ? `${+(n / 1024 ** 2).toFixed(2)} MiB`
      : `${n} bytes`;
const count = (n: number) => n.toLocaleString("en-US");

/** A ClickHouse limit error as `ReadLimitError` with a message for the caller; anything else unchanged. */
export function readError(err: unknown, limits: ReadLimits, signal?: AbortSignal): unknown {
  if (signal?.aborted) return new ReadAbortedError("the caller went away; the read was abandoned");
  const code = Number((err as { code?: unknown } | null)?.code);
  switch (code) {
    case 159: // TIMEOUT_EXCEEDED
    case 160: // TOO_SLOW
      return new ReadLimitError(
        `the query ran longer than ${limits.timeoutSeconds} s (COGNIVE_QUERY_TIMEOUT_SECONDS); ${WHAT_TO_NARROW}`,
      );
    case 241: // MEMORY_LIMIT_EXCEEDED
      return new ReadLimitError(
        `the query needed more than ${bytes(limits.maxMemoryBytes)} of memory (COGNIVE_QUERY_MAX_MEMORY_BYTES); ${WHAT_TO_NARROW}`,
      );
    case 158: // TOO_MANY_ROWS
    case 307: // TOO_MANY_BYTES
      return new ReadLimitError(
        `the query would read more than ${count(limits.maxRowsRead)} rows (COGNIVE_QUERY_MAX_ROWS_READ); narrow the time range or add filters`,
      );
    case 396: // TOO_MANY_ROWS_OR_BYTES
      return new ReadLimitError(
        `the query result is larger than ${count(limits.maxResultRows)} rows or ${bytes(limits.maxResultBytes)} (COGNIVE_QUERY_MAX_RESULT_ROWS, COGNIVE_QUERY_MAX_RESULT_BYTES); ${WHAT_TO_NARROW}`,
      );
  }
  return err;
}

/**
 * `sql` with `settings` in its trailing `SETTINGS` clause: added, or merged into one the statement
 * already has (its own values win), before a trailing `FORMAT`, without trailing semicolons.
 * Keywords are found outside quotes, comments and parentheses.
 */
export function withReadSettings(sql: string, settings: Record<string, number | string>): string {
  const text = sql.replace(/[\s;]+$/, "");
  const { settingsAt, formatAt } = topLevelClauses(text);
  const end = formatAt ?? text.length;
  const head = text.slice(0, end).replace(/\s+$/, "");
  const tail = formatAt === undefined ? "" : ` ${text.slice(formatAt)}`;
  // A SETTINGS clause counts only when it ends the statement (not one of a UNION's parts).
  const trailing =
    settingsAt !== undefined && settingsAt < end && SETTINGS_CLAUSE.test(head.slice(settingsAt))
      ? settingsAt
      : undefined;
  const own = new Set<string>();
  if (trailing !== undefined) {
    for (const m of head.slice(trailing).matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*=/g)) own.add(m[1].toLowerCase());
  }
  const added = Object.entries(settings)
    .filter(([k]) => !own.has(k.toLowerCase()))
    .map(([k, v]) => `${k} = ${settingValue(v)}`);
  if (added.length === 0) return `${head}${tail}`;
  const clause = trailing !== undefined ? `, ${added.join(", ")}` : `\nSETTINGS ${added.join(", ")}`;
  return `${head}${clause}${tail}`;
}

const SETTING = String.raw`[A-Za-z_][A-Za-z0-9_]*\s*=\s*(?:'(?:[^'\\]|\\.)*'|[^,\s]+)`;
const SETTINGS_CLAUSE = new RegExp(String.raw`^SETTINGS\s+${SETTING}(?:\s*,\s*${SETTING})*$`, "i");

function settingValue(v: number | string): string {
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`setting value ${v} is not a finite number`);
    return String(v);
  }
  return `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** Where the last top-level `SETTINGS` and `FORMAT` keywords start, if any. */
function topLevelClauses(sql: string): { settingsAt?: number; formatAt?: number } {
  let depth = 0;
  let settingsAt: number | undefined;
  let formatAt: number | undefined;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i];
    if (ch === "'" || ch === '"' || ch === "`") {
      // A quoted string or identifier; a backslash escapes the next character.
      for (i++; i < sql.length && sql[i] !== ch; i++) if (sql[i] === "\\") i++;
      continue;
    }
    if (ch === "-" && sql[i + 1] === "-") {
      while (i < sql.length && sql[i] !== "\n") i++;
      continue;
    }
    if (ch === "/" && sql[i + 1] === "*") {
      const close = sql.indexOf("*/", i + 2);
      i = close < 0 ? sql.length : close + 1;
      continue;
    }
    if (ch === "{") {
      // A `{name:Type}` parameter.
      const close = sql.indexOf("}", i + 1);
      i = close < 0 ? sql.length : close;
      continue;
    }
    if (ch === "(" || ch === "[") depth++;
    else if (ch === ")" || ch === "]") depth--;
    else if (depth === 0 && /[A-Za-z_]/.test(ch) && (i === 0 || !/[A-Za-z0-9_]/.test(sql[i - 1]))) {
      const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i, i + 16))?.[0] ?? "";
      const upper = word.toUpperCase();
      // `format(…)` is a function, not the clause.
      const call = /^\s*\(/.test(sql.slice(i + word.length, i + word.length + 64));
      if (call) {
        i += word.length - 1;
        continue;
      }
      if (upper === "SETTINGS") settingsAt = i;
      else if (upper === "FORMAT") formatAt = i;
      i += word.length - 1;
    }
  }
  return { settingsAt, formatAt };
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
    WHERE TraceId IN (${rangeTraceIdsSql(db)})`;
}

/** The ids of the traces with a summary row starting in [from, to] (once per such row). */
function rangeTraceIdsSql(db: string): string {
  return `
      SELECT TraceId FROM ${db}.${TRACE_SUMMARY_TABLE}
      WHERE Start BETWEEN fromUnixTimestamp64Nano({fromNs:Int64}) AND fromUnixTimestamp64Nano({toNs:Int64})`;
}

/**
 * `summaryRowsOfRange` for a read that keeps most of the range's traces (the overview's), as a
 * subquery: a join with the range's trace ids instead of an `IN` set, which for a day of a busy store
 * (1.4 M traces) made the read 15–35 % slower. (A read of a few traces keeps the `IN`: its key
 * analysis skips granules.)
 */
export function summaryRowsJoined(db: string): string {
  return `(
    SELECT s.* FROM ${db}.${TRACE_SUMMARY_TABLE} AS s
    INNER JOIN (SELECT DISTINCT TraceId FROM (${rangeTraceIdsSql(db)})) AS r ON r.TraceId = s.TraceId
  )`;
}

/**
 * Adds a `has(<array column>, {<name>:String})` condition and its bound value for each filter that
 * is set; `name` is both the parameter and the filter's name, the column a code constant.
 */
export function addArrayFilters(
  conditions: string[],
  params: Record<string, unknown>,
  filters: Record<string, { column: string; value: string | undefined }>,
): void {
  for (const [name, { column, value }] of Object.entries(filters)) {
    if (value === undefined) continue;
    conditions.push(`has(${column}, {${name}:String})`);
    params[name] = value;
  }
}

/**
 * Reads of the newest traces (a search, a trace list) look only after a cutoff that leaves about
 * this many traces per wanted result, and widen to the next step, then to the whole range, while
 * they find fewer than they want.
 */
export const CUTOFF_TRACES_PER_RESULT = [50, 1000];

/**
 * The start of the `n`-th newest trace starting in [fromS, toS] (Unix seconds; from the per-trace
 * summary, whose teams a scope filters on), or null when the range holds fewer: only what starts
 * after it needs reading to find the newest traces.
 */
export async function newestTraceStartNs(
  storage: Storage,
  scope: QueryScope,
  fromS: number,
  toS: number,
  n: number,
): Promise<string | null> {
  // The summary's projection sorted by start (migration 25) answers this from the range's last granules.
  const team = teamCondition(scope, { array: "Teams" });
  const rows = await select<{ StartNs: string }>(
    storage,
    `SELECT toString(toUnixTimestamp64Nano(Start)) AS StartNs
     FROM ${databaseOf(storage)}.${TRACE_SUMMARY_TABLE}
     WHERE Start >= toDateTime({fromS:UInt32}) AND Start <= toDateTime({toS:UInt32}) AND (${team.sql})
     ORDER BY Start DESC
     LIMIT 1 OFFSET {n:UInt32}
     ${POINT_READ_SETTINGS}`,
    { ...team.params, fromS, toS, n },
  );
  return rows[0]?.StartNs ?? null;
}

/**
 * A list's filters are few and often absent, so it starts from fewer candidates than a search
 * (each is a look-up by trace id); a trace may have a summary row per insert, hence 4 and not 1.
 */
export const LIST_CUTOFF_TRACES_PER_RESULT = [4, ...CUTOFF_TRACES_PER_RESULT];

/**
 * The newest results of a range, read from cutoffs: `read(cutoffNs)` with the start of the
 * (limit + 1) × k-th newest trace in [fromNs, upperNs] for each k of `steps`, widening while it
 * answers `limit` rows or fewer; `read(null)` (the whole range) once the range holds fewer traces, a
 * cutoff falls at or before its start, or the steps run out.
 */
export async function readNewestFirst<T>(
  storage: Storage,
  scope: QueryScope,
  range: { fromNs: bigint; upperNs: bigint },
  limit: number,
  steps: readonly number[],
  read: (cutoffNs: bigint | null) => Promise<T[]>,
): Promise<T[]> {
  const fromS = Number(range.fromNs / NS_PER_S);
  const toS = Number((range.upperNs + NS_PER_S - 1n) / NS_PER_S);
  for (const k of steps) {
    const cutoff = await newestTraceStartNs(storage, scope, fromS, toS, (limit + 1) * k);
    if (cutoff === null || BigInt(cutoff) <= range.fromNs) break;
    const rows = await read(BigInt(cutoff));
    if (rows.length > limit) return rows;
  }
  return read(null);
}
