/**
 * What a span insert costs in embedded chDB, measured in process (so the CPU counted includes chDB's
 * insert and merge threads): the same batch of span rows inserted again and again,
 *   - the span table's sorting key: the exporter's order against the trace order (migration 13);
 *   - sizes: one insert's rows, from `--rows`/64 to `--rows` (distinct rows; Native, every view);
 *   - formats: the text formats chDB's Node binding takes raw (TSV, JSONEachRow, JSONCompactEachRow,
 *     CSV), and the binary ones it does not (Native, RowBinary, Arrow, Parquet) through a file on
 *     /dev/shm read with `INSERT … SELECT FROM file()`, the file write included;
 *   - materialized views: into a copy of the span table with none, with each one alone, and all;
 *   - the span table's skip indexes and its codec (ZSTD(1) against LZ4), without views;
 *   - its columns apart (`columns`): every one, all but the attribute maps, events and links, the
 *     few a search filters on, and the maps alone; RowBinary through a file, no views, no skip index;
 *   - insert settings on the real span table (every view): max_insert_threads, parallel parsing,
 *     parallel_view_processing, block squashing, and wide instead of compact parts;
 *   - trace documents written apart (`split`): the span table without the documents' view and a
 *     second insert of the batch's documents, against the span table with all six views; beside
 *     them the documents' view with Doc in LZ4, without the casts that change no byte, without the
 *     resource's attributes (a bound for keeping them once a document), writing a document a span,
 *     and one insert into a Null table of span and document columns that two views copy into the
 *     span table and `trace_docs`;
 *   - a resource's attributes once a trace document (`resources`): spans with one resource a trace,
 *     the documents' view as stored, two ways of listing each resource once, and without resources;
 *   - a log of trace documents instead (`log`): the same spans as one row per trace, each trace's
 *     span rows in one column as `trace_docs` holds them, into a copy of `trace_docs` (no view) as
 *     RowBinary through a file. What an ingest that acknowledges after this write alone, and builds
 *     the span table and the rollups later from it, would pay in storage.
 * Rows are made by SQL with the shape of the ingest bench's agent runs (`span-rows.ts`). Each variant
 * is measured in rounds that alternate with the others, so a machine slowing down affects all alike.
 *   npx tsx bench/insert-cost.ts [--rows 4088] [--inserts 12] [--rounds 3] [--only order,formats,sizes,views,settings,schema,columns,log,split,resources]
 *     [--views-format tsv|native]
 *     [--no-merges: storage's merges stopped, the inserts' own CPU]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  applyTableSettings,
  createStorage,
  DERIVED_TABLES,
  HOUR_SORTING_KEY,
  MINUTE_SORTING_KEY,
  migrate,
  SPAN_COLUMNS,
  SPAN_SORTING_KEY,
  SPAN_TABLE,
  TRACE_DOCS_TABLE,
} from "@cognive/collector";
import { createChdbConnection } from "chdb/connection";
import { plainTypeName } from "../collector/src/storage/native.ts";
import { queryRows } from "../collector/src/storage/sql.ts";
import { TRACE_DOC_ROW } from "../collector/src/storage/trace-docs.ts";
import { loadAverage, machine, percentile, report } from "./lib.ts";
import { spanRowsInsert } from "./span-rows.ts";

const { values: args } = parseArgs({
  options: {
    rows: { type: "string", default: "4088" },
    inserts: { type: "string", default: "12" },
    rounds: { type: "string", default: "3" },
    only: { type: "string", default: "order,formats,views,settings,schema,columns,log" },
    "views-format": { type: "string", default: "tsv" },
    /** Storage's background merges stopped: the inserts' own CPU, without the merges they cause. */
    "no-merges": { type: "boolean", default: false },
  },
});
const ROWS = Number(args.rows);
const INSERTS = Number(args.inserts);
const ROUNDS = Number(args.rounds);
const ONLY = new Set(args.only.split(","));
if (!["tsv", "native"].includes(args["views-format"])) throw new Error("--views-format is tsv or native");
const DB = "cognive";
const PLAIN = "bench_spans";

type Conn = ReturnType<typeof createChdbConnection>;

interface Variant {
  group: string;
  name: string;
  /** Runs before the variant's first round (tables, views). */
  setup?: () => Promise<void>;
  insert: () => Promise<void>;
  /** Rows an insert writes (default `--rows`); inserts a round scale so each variant writes alike. */
  rows?: number;
}

/** Inserts a round of a variant: `--inserts`, scaled so that every variant writes about as many rows. */
const insertsOf = (v: Variant) => Math.max(1, Math.round((INSERTS * ROWS) / (v.rows ?? ROWS)));

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "cognive-insert-cost-"));
  const shm = mkdtempSync(join("/dev/shm", "cognive-insert-cost-"));
  const storage = createStorage({ dataDir: dir, database: DB });
  await migrate(storage);
  // As the server leaves its tables at start.
  await applyTableSettings(storage);
  const conn: Conn = createChdbConnection({ path: dir });
  const sql = (q: string) => conn.chdb.queryAsync(q);
  try {
    process.stdout.write(`insert cost: ${ROWS} rows an insert, ${INSERTS} inserts × ${ROUNDS} rounds a variant\n`);
    // The batch, made once in a scratch table with the span table's columns.
    if (args["no-merges"]) await sql("SYSTEM STOP MERGES");
    await sql(`CREATE TABLE ${DB}.bench_source AS ${DB}.${SPAN_TABLE} ENGINE = Memory`);
    await sql(spanRowsInsert(`${DB}.bench_source`, ROWS));
    const cols = SPAN_COLUMNS.join(", ");
    /** The batch's trace documents, one row a trace, as the documents' view groups them. */
    const DOCS_OF_BATCH = `SELECT TraceId, TeamName, min(toDateTime(Timestamp)) AS Start, toUInt32(count()) AS Spans,
        arrayStringConcat(groupArray(${TRACE_DOC_ROW})) AS Doc
      FROM ${DB}.bench_source GROUP BY TraceId, TeamName`;
    /** The batch, or its first `limit` rows, in `format`. */
    const dump = async (format: string, limit = ROWS, settings = "") =>
      Buffer.from(
        (
          await sql(
            `SELECT ${cols} FROM ${DB}.bench_source LIMIT ${limit} FORMAT ${format}${settings ? ` SETTINGS ${settings}` : ""}`,
          )
        ).bytes(),
      );
    /** Native as a writer makes it: LowCardinality columns as their plain type (no dictionaries). */
    const nativePlainOf = (limit = ROWS) => dump("Native", limit, "low_cardinality_allow_in_native_format = 0");

    const plainTable = async (name: string, settings = "") => {
      await sql(`DROP TABLE IF EXISTS ${DB}.${name}`);
      await sql(
        `CREATE TABLE ${DB}.${name} AS ${DB}.${SPAN_TABLE}${settings ? ` ENGINE = MergeTree PARTITION BY toDate(Timestamp) ORDER BY ${SPAN_SORTING_KEY} SETTINGS ${settings}` : ""}`,
      );
    };
    const raw = (
      table: string,
      format: "TSV" | "JSONEachRow" | "JSONCompactEachRow" | "CSV",
      body: Buffer,
      settings?: Record<string, string | number>,
    ) =>
      conn.chdb.rawInsert({
        table: `${DB}.${table}`,
        columns: SPAN_COLUMNS,
        values: body,
        format,
        ...(settings ? { settings } : {}),
      });

    const variants: Variant[] = [];
    const tsv = await dump("TSV");

    /** A body written to a file on /dev/shm and inserted from it with `INSERT … SELECT FROM file()`. */
    const fileVariant = (v: {
      format: string;
      body: Buffer;
      name: string;
      table: string;
      plain: boolean;
      lc?: boolean;
      group?: string;
      rows?: number;
    }) => {
      const { format, body, table, lc = true, rows = ROWS } = v;
      const file = join(shm, `batch-${variants.length}.${format}`);
      variants.push({
        group: v.group ?? "format",
        name: `${v.name} (file on /dev/shm, ${(body.length / rows).toFixed(0)} B/row)`,
        rows: v.rows,
        setup: v.plain ? () => plainTable(PLAIN) : undefined,
        insert: async () => {
          writeFileSync(file, body);
          const struct = await structure();
          await sql(
            `INSERT INTO ${DB}.${table} (${cols}) SELECT ${cols} FROM file('${file}', ${format}, '${lc ? struct : plainTypeName(struct)}')`,
          );
        },
      });
    };

    if (ONLY.has("formats")) {
      for (const format of ["TSV", "JSONEachRow", "JSONCompactEachRow", "CSV"] as const) {
        const body = format === "TSV" ? tsv : await dump(format);
        variants.push({
          group: "format",
          name: `${format} (raw insert, ${(body.length / ROWS).toFixed(0)} B/row)`,
          setup: () => plainTable(PLAIN),
          insert: () => raw(PLAIN, format, body).then(() => {}),
        });
      }
      for (const format of ["Native", "RowBinary", "Arrow", "Parquet"])
        fileVariant({ format, body: await dump(format), name: format, table: PLAIN, plain: true });
      const nativePlain = await nativePlainOf();
      fileVariant({
        format: "Native",
        body: nativePlain,
        name: "Native, LowCardinality as String",
        table: PLAIN,
        plain: true,
        lc: false,
      });
      // Into the span table as stored, its 6 views firing.
      fileVariant({
        format: "RowBinary",
        body: await dump("RowBinary"),
        name: "RowBinary into the span table (6 views)",
        table: SPAN_TABLE,
        plain: false,
      });
      fileVariant({
        format: "Native",
        body: nativePlain,
        name: "Native, LowCardinality as String, into the span table (6 views)",
        table: SPAN_TABLE,
        plain: false,
        lc: false,
      });
    }

    let types: Map<string, string> | null = null;
    /** `file()`'s structure argument for these span columns (all by default). */
    async function structure(columns: readonly string[] = SPAN_COLUMNS): Promise<string> {
      if (types === null) {
        const rows = (await sql(`DESCRIBE TABLE ${DB}.bench_source FORMAT JSONEachRow`)).text().trim().split("\n");
        types = new Map(rows.map((r) => JSON.parse(r) as { name: string; type: string }).map((r) => [r.name, r.type]));
      }
      const known = types;
      // A string literal in the statement: its quotes escaped.
      return columns
        .map((c) => `\`${c}\` ${known.get(c)}`)
        .join(", ")
        .replaceAll("'", "\\'");
    }

    if (ONLY.has("order")) {
      // The sorting key alone (no views): the exporter's order against the time-bucket orders of
      // migrations 13, 21 and 27.
      for (const [name, key] of [
        ["exporter order (ServiceName, SpanName, time)", "(ServiceName, SpanName, toDateTime(Timestamp), Timestamp)"],
        ["trace order (hour, TraceId)", HOUR_SORTING_KEY],
        ["trace order (minute, TraceId)", MINUTE_SORTING_KEY],
        ["trace order (10 s, TraceId)", SPAN_SORTING_KEY],
      ])
        variants.push({
          group: "order",
          name,
          setup: async () => {
            await sql(`DROP TABLE IF EXISTS ${DB}.${PLAIN}`);
            await sql(
              `CREATE TABLE ${DB}.${PLAIN} AS ${DB}.${SPAN_TABLE} ENGINE = MergeTree PARTITION BY toDate(Timestamp) ORDER BY ${key} SETTINGS merge_selector_base = 20`,
            );
          },
          insert: () => raw(PLAIN, "TSV", tsv).then(() => {}),
        });
    }

    if (ONLY.has("views")) {
      const viewTarget = (t: string) => `bench_${t}`;
      const dropViews = async () => {
        for (const d of DERIVED_TABLES) await sql(`DROP VIEW IF EXISTS ${DB}.${viewTarget(d.table)}_mv`);
      };
      const withViews = (names: string[]) => async () => {
        await dropViews();
        await plainTable(PLAIN);
        for (const d of DERIVED_TABLES.filter((t) => names.includes(t.table))) {
          await sql(`CREATE TABLE IF NOT EXISTS ${DB}.${viewTarget(d.table)} AS ${DB}.${d.table}`);
          const select = d.select("").replaceAll("{db}", DB).replaceAll(`${DB}.${SPAN_TABLE}`, `${DB}.${PLAIN}`);
          await sql(
            `CREATE MATERIALIZED VIEW ${DB}.${viewTarget(d.table)}_mv TO ${DB}.${viewTarget(d.table)} AS ${select}`,
          );
        }
      };
      // TSV through the binding, or Native through a file as the writer inserts (`--views-format`).
      const native = args["views-format"] === "native" ? await nativePlainOf() : undefined;
      const viewFile = join(shm, "views.Native");
      const into = (table: string) => async () => {
        if (native === undefined) return void (await raw(table, "TSV", tsv));
        writeFileSync(viewFile, native);
        await sql(`INSERT INTO ${DB}.${table} (${cols}) SELECT * FROM file('${viewFile}', Native)`);
      };
      variants.push({
        group: "views",
        name: "no view",
        setup: withViews([]),
        insert: into(PLAIN),
      });
      for (const d of DERIVED_TABLES)
        variants.push({
          group: "views",
          name: `only ${d.table}`,
          setup: withViews([d.table]),
          insert: into(PLAIN),
        });
      // What aggregating the per-minute rollups in the pipeline would leave to the store: the per-trace
      // views alone, against all of them on the same copy.
      const perTrace = DERIVED_TABLES.filter((d) => d.key === "trace").map((d) => d.table);
      variants.push({
        group: "views",
        name: `the ${perTrace.length} per-trace views (${perTrace.join(", ")})`,
        setup: withViews(perTrace),
        insert: into(PLAIN),
      });
      variants.push({
        group: "views",
        name: `all ${DERIVED_TABLES.length} on the copy`,
        setup: withViews(DERIVED_TABLES.map((d) => d.table)),
        insert: into(PLAIN),
      });
      variants.push({
        group: "views",
        name: `all ${DERIVED_TABLES.length} (the span table as stored)`,
        setup: dropViews,
        insert: into(SPAN_TABLE),
      });
    }

    if (ONLY.has("settings")) {
      const onSpans = (name: string, settings?: Record<string, string | number>) =>
        variants.push({ group: "settings", name, insert: () => raw(SPAN_TABLE, "TSV", tsv, settings).then(() => {}) });
      onSpans("as today (defaults, async_insert off)");
      onSpans("max_insert_threads = 2", { max_insert_threads: 2 });
      onSpans("input_format_parallel_parsing = 0", { input_format_parallel_parsing: 0 });
      onSpans("parallel_view_processing = 1", { parallel_view_processing: 1 });
      onSpans("enable_analyzer = 0 (the legacy planner for the views' SELECTs)", { enable_analyzer: 0 });
      onSpans("min_insert_block_size_rows/bytes = 0 (no squashing)", {
        min_insert_block_size_rows: 0,
        min_insert_block_size_bytes: 0,
      });
      variants.push({
        group: "settings",
        name: "wide parts (min_bytes_for_wide_part = 0), no views",
        setup: () => plainTable(PLAIN, "min_bytes_for_wide_part = 0"),
        insert: () => raw(PLAIN, "TSV", tsv).then(() => {}),
      });
      variants.push({
        group: "settings",
        name: "compact parts (the default for small inserts), no views",
        setup: () => plainTable(PLAIN, "min_bytes_for_wide_part = '10M'"),
        insert: () => raw(PLAIN, "TSV", tsv).then(() => {}),
      });
    }

    if (ONLY.has("schema")) {
      // The span table's own costs, no views: its skip indexes and its compression codec.
      const indexes = async () =>
        (
          await queryRows<{ name: string }>(
            storage,
            "SELECT name FROM system.data_skipping_indices WHERE database = {db:String} AND table = {t:String}",
            { db: DB, t: PLAIN },
          )
        ).map((r) => r.name);
      const dropIndexes = (which: (name: string) => boolean) => async () => {
        await plainTable(PLAIN);
        const drop = (await indexes()).filter(which);
        if (drop.length > 0) await sql(`ALTER TABLE ${DB}.${PLAIN} ${drop.map((i) => `DROP INDEX ${i}`).join(", ")}`);
      };
      const schemaVariant = (name: string, setup: () => Promise<void>) =>
        variants.push({ group: "schema", name, setup, insert: () => raw(PLAIN, "TSV", tsv).then(() => {}) });
      schemaVariant("as stored (every skip index, ZSTD(1))", () => plainTable(PLAIN));
      schemaVariant(
        "without the attribute-map bloom filters",
        dropIndexes((i) => /_attr_(key|value)$/.test(i)),
      );
      schemaVariant(
        "without any skip index",
        dropIndexes(() => true),
      );
      schemaVariant("LZ4 instead of ZSTD(1)", async () => {
        await plainTable(PLAIN);
        const cols = await queryRows<{ name: string; codec: string }>(
          storage,
          "SELECT name, compression_codec AS codec FROM system.columns WHERE database = {db:String} AND table = {t:String} AND compression_codec LIKE '%ZSTD%'",
          { db: DB, t: PLAIN },
        );
        const codec = (c: string) => c.replace(/^CODEC\((.*)\)$/, "$1").replace(/ZSTD\(\d+\)/, "LZ4");
        await sql(
          `ALTER TABLE ${DB}.${PLAIN} ${cols.map((c) => `MODIFY COLUMN \`${c.name}\` CODEC(${codec(c.codec)})`).join(", ")}`,
        );
      });
    }

    if (ONLY.has("columns")) {
      // What the span table's columns cost apart, no views, no skip index: which columns a narrower
      // stored span (the rest kept in trace documents) would save.
      const ATTRS = /Attributes|AttributeTypes|^Events\.|^Links\./;
      const SEARCH = new Set(
        "Timestamp TraceId SpanId ParentSpanId SpanName SpanKind ServiceName Duration StatusCode TeamName AgentName GenAiOperation GenAiProvider GenAiRequestModel GenAiResponseModel GenAiUsageRole InputTokens OutputTokens CostUsd ToolName".split(
          " ",
        ),
      );
      const subsets: [string, (c: string) => boolean][] = [
        [`every column (${SPAN_COLUMNS.length})`, () => true],
        ["without attributes, events and links", (c) => !ATTRS.test(c)],
        [`search columns only (${SEARCH.size})`, (c) => SEARCH.has(c)],
        [
          "the key and attributes, events and links only",
          (c) => ATTRS.test(c) || ["Timestamp", "TraceId", "SpanId"].includes(c),
        ],
      ];
      const table = `${DB}.bench_columns`;
      for (const [name, keep] of subsets) {
        const columns = SPAN_COLUMNS.filter(keep);
        const list = columns.map((c) => `\`${c}\``).join(", ");
        // RowBinary through a file, as ingest writes.
        const body = Buffer.from((await sql(`SELECT ${list} FROM ${DB}.bench_source FORMAT RowBinary`)).bytes());
        const file = join(shm, `columns-${columns.length}.RowBinary`);
        variants.push({
          group: "columns",
          name: `${name}, ${(body.length / ROWS).toFixed(0)} B/span`,
          setup: async () => {
            await sql(`DROP TABLE IF EXISTS ${table}`);
            await sql(`CREATE TABLE ${table} AS ${DB}.${SPAN_TABLE}`);
            const indexes = await queryRows<{ name: string }>(
              storage,
              "SELECT name FROM system.data_skipping_indices WHERE database = {db:String} AND table = 'bench_columns'",
              { db: DB },
            );
            const drops = [
              ...indexes.map((i) => `DROP INDEX ${i.name}`),
              ...SPAN_COLUMNS.filter((c) => !keep(c)).map((c) => `DROP COLUMN \`${c}\``),
            ];
            if (drops.length > 0) await sql(`ALTER TABLE ${table} ${drops.join(", ")}`);
          },
          insert: async () => {
            writeFileSync(file, body);
            await sql(
              `INSERT INTO ${table} (${list}) SELECT ${list} FROM file('${file}', RowBinary, '${await structure(columns)}')`,
            );
          },
        });
      }
    }

    if (ONLY.has("log")) {
      const docs = Buffer.from((await sql(`${DOCS_OF_BATCH} FORMAT RowBinary`)).bytes());
      const file = join(shm, "batch.docs.RowBinary");
      const docTable = `${DB}.bench_trace_docs`;
      variants.push({
        group: "log",
        name: `trace documents only (RowBinary file on /dev/shm, ${(docs.length / ROWS).toFixed(0)} B/span)`,
        setup: async () => {
          await sql(`DROP TABLE IF EXISTS ${docTable}`);
          await sql(`CREATE TABLE ${docTable} AS ${DB}.${TRACE_DOCS_TABLE}`);
        },
        insert: async () => {
          writeFileSync(file, docs);
          await sql(
            `INSERT INTO ${docTable} (TraceId, TeamName, Start, Spans, Doc) SELECT * FROM file('${file}', RowBinary,
              'TraceId String, TeamName String, Start DateTime, Spans UInt32, Doc String')`,
          );
        },
      });
    }

    const docsView = DERIVED_TABLES.find((d) => d.table === TRACE_DOCS_TABLE);
    if (docsView === undefined) throw new Error("no trace documents view");
    /** The documents' view SELECT as stored. */
    const asStored = docsView.select("").replaceAll("{db}", DB);
    /** A document row without the resource's attributes (a bound for keeping them once a document). */
    const withoutResource = TRACE_DOC_ROW.replace(
      /CAST\(Resource(Attributes|AttributeTypes), '([^']+)'\)/g,
      (_all, _kind: string, type: string) => `CAST(map(), '${type}')`,
    );
    if (withoutResource === TRACE_DOC_ROW) throw new Error("the documents' resource attributes not found");
    /** Inserts of the Native `body` (through `file`) into the span table with its six views, the documents' view running `select`. */
    const byDocsView = (
      group: string,
      name: string,
      select: string,
      body: Buffer,
      file: string,
      setup?: () => Promise<void>,
    ): Variant => ({
      group,
      name,
      setup: async () => {
        await sql(`DROP VIEW IF EXISTS ${DB}.${TRACE_DOCS_TABLE}_mv`);
        await sql(`CREATE MATERIALIZED VIEW ${DB}.${TRACE_DOCS_TABLE}_mv TO ${DB}.${TRACE_DOCS_TABLE} AS ${select}`);
        await setup?.();
      },
      insert: async () => {
        writeFileSync(file, body);
        await sql(`INSERT INTO ${DB}.${SPAN_TABLE} (${cols}) SELECT * FROM file('${file}', Native)`);
      },
    });

    if (ONLY.has("split")) {
      // Trace documents written by the pipeline: the span table without the documents' view, then a
      // second insert of the batch's documents (one row per trace, as the view groups them), against
      // the span table with its six views. Native, the batch as the writer sends it.
      const docCodec = (codec: string) =>
        sql(`ALTER TABLE ${DB}.${TRACE_DOCS_TABLE} MODIFY COLUMN Doc String CODEC(${codec})`).then(() => {});
      const docs = Buffer.from((await sql(`${DOCS_OF_BATCH} FORMAT Native`)).bytes());
      const spans = await nativePlainOf();
      const spanFile = join(shm, "split.spans.Native");
      const docFile = join(shm, "split.docs.Native");
      const insertSpans = async () => {
        writeFileSync(spanFile, spans);
        await sql(`INSERT INTO ${DB}.${SPAN_TABLE} (${cols}) SELECT * FROM file('${spanFile}', Native)`);
      };
      /** The span table with its six views, the documents' view running `select`, Doc in `codec`. */
      const byView = (name: string, select: string, codec = "ZSTD(1)"): Variant =>
        byDocsView("split", name, select, spans, spanFile, () => docCodec(codec));
      variants.push(byView("span table with its 6 views (documents by the view)", asStored));
      variants.push({
        group: "split",
        name: `span table with 5 views, then the documents apart (Native, ${(docs.length / ROWS).toFixed(0)} B/span)`,
        setup: async () => {
          await sql(`DROP VIEW IF EXISTS ${DB}.${TRACE_DOCS_TABLE}_mv`);
          await docCodec("ZSTD(1)");
        },
        insert: async () => {
          await insertSpans();
          writeFileSync(docFile, docs);
          await sql(
            `INSERT INTO ${DB}.${TRACE_DOCS_TABLE} (TraceId, TeamName, Start, Spans, Doc) SELECT * FROM file('${docFile}', Native)`,
          );
        },
      });
      variants.push(byView("span table with its 6 views, documents in LZ4", asStored, "LZ4"));
      // The same documents with no cast where the stored type writes the same RowBinary bytes as the
      // document's (LowCardinality(T) is written as T).
      const stored = new Map(
        (
          await queryRows<{ name: string; type: string }>(
            storage,
            "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String}",
            { db: DB, t: SPAN_TABLE },
          )
        ).map((c) => [c.name, plainTypeName(c.type)]),
      );
      const bare = TRACE_DOC_ROW.replace(/CAST\(([\w.]+), '([^']+)'\)/g, (all, col: string, type: string) =>
        stored.get(col) === type ? col : all,
      );
      const differ = await sql(`SELECT count() FROM ${DB}.bench_source WHERE ${bare} != ${TRACE_DOC_ROW} FORMAT TSV`);
      process.stdout.write(
        `documents without no-op casts: ${(TRACE_DOC_ROW.match(/CAST\(/g) ?? []).length - (bare.match(/CAST\(/g) ?? []).length} casts fewer, rows that differ: ${differ.text().trim()}\n`,
      );
      variants.push(
        byView("span table with its 6 views, documents without no-op casts", asStored.replace(TRACE_DOC_ROW, bare)),
        // A bound for documents that keep a resource's attributes once: here not at all.
        byView(
          "span table with its 6 views, documents without the resource's attributes",
          asStored.replace(TRACE_DOC_ROW, withoutResource),
        ),
        byView(
          "span table with its 6 views, documents a span each (no grouping)",
          `SELECT TraceId, TeamName, toDateTime(Timestamp) AS Start, 1 AS Spans, ${TRACE_DOC_ROW} AS Doc
            FROM ${DB}.${SPAN_TABLE} WHERE TraceId != ''`,
        ),
      );
      // One insert into a Null table of span columns and document columns (a trace's document on its
      // first span of the batch): one view copies the span columns into the span table, one the
      // documents into trace_docs.
      const input = `${DB}.bench_span_input`;
      const withDocs = Buffer.from(
        (
          await sql(`SELECT ${cols}, if(n = 1, d.Start, toDateTime(0)) AS DocStart, if(n = 1, d.Spans, 0) AS DocSpans,
              if(n = 1, d.Doc, '') AS Doc
            FROM (SELECT *, row_number() OVER (PARTITION BY TraceId, TeamName) AS n FROM ${DB}.bench_source) AS s
            LEFT JOIN (${DOCS_OF_BATCH}) AS d
            USING (TraceId, TeamName)
            FORMAT Native SETTINGS low_cardinality_allow_in_native_format = 0`)
        ).bytes(),
      );
      const inputFile = join(shm, "split.input.Native");
      variants.push({
        group: "split",
        name: `a Null table of spans and documents, two views into span table and documents (${(withDocs.length / ROWS).toFixed(0)} B/span)`,
        setup: async () => {
          await sql(`DROP VIEW IF EXISTS ${DB}.${TRACE_DOCS_TABLE}_mv`);
          await docCodec("ZSTD(1)");
          await sql(`CREATE TABLE IF NOT EXISTS ${input} AS ${DB}.${SPAN_TABLE} ENGINE = Null`);
          await sql(`ALTER TABLE ${input} ADD COLUMN IF NOT EXISTS DocStart DateTime,
            ADD COLUMN IF NOT EXISTS DocSpans UInt32, ADD COLUMN IF NOT EXISTS Doc String`);
          await sql(
            `CREATE MATERIALIZED VIEW IF NOT EXISTS ${input}_spans TO ${DB}.${SPAN_TABLE} AS SELECT ${cols} FROM ${input}`,
          );
          await sql(`CREATE MATERIALIZED VIEW IF NOT EXISTS ${input}_docs TO ${DB}.${TRACE_DOCS_TABLE} AS
            SELECT TraceId, TeamName, DocStart AS Start, DocSpans AS Spans, Doc FROM ${input} WHERE DocSpans > 0`);
        },
        insert: async () => {
          writeFileSync(inputFile, withDocs);
          await sql(
            `INSERT INTO ${input} (${cols}, DocStart, DocSpans, Doc) SELECT * FROM file('${inputFile}', Native)`,
          );
        },
      });
    }

    if (ONLY.has("resources")) {
      // Trace documents that keep each resource's attributes once (keyed by a hash of them), for
      // spans with one resource a trace as an SDK sends them: the span table with its six views,
      // the documents' view written three ways, and without the resource's attributes (the bound).
      await sql(`CREATE TABLE ${DB}.bench_one_resource AS ${DB}.${SPAN_TABLE} ENGINE = Memory`);
      await sql(
        `INSERT INTO ${DB}.bench_one_resource (${cols}) SELECT ${SPAN_COLUMNS.map((c) =>
          c === "ResourceAttributes"
            ? "mapUpdate(ResourceAttributes, map('host.name', concat('pod-', toString(cityHash64(TraceId) % 13)))) AS ResourceAttributes"
            : c,
        ).join(", ")} FROM ${DB}.bench_source`,
      );
      const body = Buffer.from(
        (
          await sql(
            `SELECT ${cols} FROM ${DB}.bench_one_resource FORMAT Native SETTINGS low_cardinality_allow_in_native_format = 0`,
          )
        ).bytes(),
      );
      const file = join(shm, "resources.Native");
      const resourceCasts = /CAST\(Resource(Attributes|AttributeTypes), '[^']+'\), /g;
      const spanRow = TRACE_DOC_ROW.replace(resourceCasts, "").replace(
        "formatRow('RowBinary', ",
        "formatRow('RowBinary', h, ",
      );
      if (spanRow === TRACE_DOC_ROW) throw new Error("the documents' resource attributes not found");
      const HASH = "cityHash64(ResourceAttributes, ResourceAttributeTypes)";
      const RESOURCES = "'Array(Tuple(UInt64, Map(String, String), Map(String, UInt8)))'";
      const from = `${DB}.${SPAN_TABLE} WHERE TraceId != ''`;
      const views: [string, string][] = [
        ["as stored", asStored],
        [
          "resources once, grouped by trace and resource, then by trace",
          `SELECT TraceId, TeamName, min(S) AS Start, sum(N) AS Spans,
            concat(char(0, 1), formatRow('RowBinary', CAST(groupArray((h, R, RT)), ${RESOURCES})),
              arrayStringConcat(groupArray(Rows))) AS Doc
          FROM (SELECT TraceId, TeamName, ${HASH} AS h, min(toDateTime(Timestamp)) AS S, count() AS N,
              any(ResourceAttributes) AS R, any(ResourceAttributeTypes) AS RT,
              arrayStringConcat(groupArray(${spanRow})) AS Rows
            FROM ${from} GROUP BY TraceId, TeamName, h)
          GROUP BY TraceId, TeamName`,
        ],
        [
          // A trace's root stands in for a flag the pipeline would set on a resource's first span.
          "resources once, written on a flagged span",
          `SELECT TraceId, TeamName, min(toDateTime(Timestamp)) AS Start, count() AS Spans,
            concat(char(0, 2), formatRow('RowBinary', toUInt32(countIf(ParentSpanId = ''))),
              arrayStringConcat(groupArrayIf(if(ParentSpanId = '', formatRow('RowBinary', h,
                CAST(ResourceAttributes, 'Map(String, String)'), CAST(ResourceAttributeTypes, 'Map(String, UInt8)')), ''),
                ParentSpanId = '')),
              arrayStringConcat(groupArray(${spanRow}))) AS Doc
          FROM (SELECT *, ${HASH} AS h FROM ${from}) GROUP BY TraceId, TeamName`,
        ],
        ["no resource attributes (the bound)", asStored.replace(TRACE_DOC_ROW, withoutResource)],
      ];
      for (const [name, select] of views) {
        const [bytes] = await queryRows<{ b: number }>(
          storage,
          `SELECT sum(length(Doc)) / sum(Spans) AS b FROM (${select.replaceAll(`${DB}.${SPAN_TABLE}`, `${DB}.bench_one_resource`)})`,
        );
        variants.push(
          byDocsView("resources", `${name} (${Number(bytes.b).toFixed(0)} document bytes a span)`, select, body, file),
        );
      }
    }

    if (ONLY.has("sizes")) {
      // One insert's size, as the writer's batches vary with load: Native into the span table (6
      // views), the first `--rows`/64 … `--rows` rows of the batch (run it with a large `--rows`).
      for (let i = 0; i <= 6; i++) {
        const rows = Math.ceil(ROWS / 2 ** (6 - i));
        fileVariant({
          group: "insert size",
          format: "Native",
          body: await nativePlainOf(rows),
          name: `${rows} rows, Native into the span table (6 views)`,
          table: SPAN_TABLE,
          plain: false,
          lc: false,
          rows,
        });
      }
    }

    const samples = new Map<Variant, { ms: number[]; cpuUs: number }>();
    for (let round = 1; round <= ROUNDS; round++) {
      for (const v of variants) {
        await v.setup?.();
        await v.insert(); // warm
        const s = samples.get(v) ?? { ms: [], cpuUs: 0 };
        const cpu0 = process.cpuUsage();
        for (let i = 0; i < insertsOf(v); i++) {
          const t0 = performance.now();
          await v.insert();
          s.ms.push(performance.now() - t0);
        }
        const cpu = process.cpuUsage(cpu0);
        s.cpuUs += cpu.user + cpu.system;
        samples.set(v, s);
        process.stdout.write(
          `  round ${round}: ${v.group} / ${v.name}: ${percentile(
            [...s.ms].sort((a, b) => a - b),
            50,
          ).toFixed(1)} ms\n`,
        );
      }
    }

    const results = variants.map((v) => {
      const s = samples.get(v) as { ms: number[]; cpuUs: number };
      const ms = [...s.ms].sort((a, b) => a - b);
      return {
        group: v.group,
        name: v.name,
        p50Ms: percentile(ms, 50),
        p90Ms: percentile(ms, 90),
        cpuUsPerRow: s.cpuUs / (ms.length * (v.rows ?? ROWS)),
      };
    });
    const rows: [string, string][] = results.map((r) => [
      `${r.group}: ${r.name}`,
      `p50 ${r.p50Ms.toFixed(1)} ms, p90 ${r.p90Ms.toFixed(1)} ms an insert; ${r.cpuUsPerRow.toFixed(1)} µs CPU/row`,
    ]);
    rows.push(["load average (1 min, at the end)", String(loadAverage())]);
    const summary = {
      date: new Date().toISOString(),
      machine: machine(),
      params: { rows: ROWS, inserts: INSERTS, rounds: ROUNDS },
      results,
    };
    report("insert-cost", rows, summary);
  } finally {
    await conn.close();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(shm, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
