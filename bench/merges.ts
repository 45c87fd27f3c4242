/**
 * What storage's background merges cost over a long ingest, by table, in process: span rows inserted
 * into the span table (every view) as the write-ahead log loads them (Native through a file on
 * /dev/shm, `--rows` a load), load after load, with merges running as they would. A 40 s ingest
 * bench sees only the first merges; rows are merged again at each level, so the cost a span grows
 * with how much is stored. Every `--every` loads it prints the CPU a span so far of the merges and of
 * the rest (the insert and its views); at the end, by table: the parts, the merges that made the
 * parts still listed, the rows they wrote per span inserted, the highest merge level, the disk; and
 * storage's own time counters (`system.events`) a span: the merges' stages, skip indexes, statistics.
 * `--distinct` loads are made up front and inserted in turn, each pass later in time (the spans'
 * start shifted), so making rows costs nothing during the run. A `--variant name=SQL` runs the
 * statements (`;;` between them, `{db}` for the database) on a fresh store before its loads, e.g. a
 * table's merge settings; variants alternate over `--rounds` (`--variants-only`: without the schema as stored).
 *   npm run bench:merges -- [--loads 600] [--rows 69500] [--distinct 40] [--every 100] [--settle 30]
 *     [--rounds 1] [--variant 'capped=ALTER TABLE {db}.otel_traces MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 1073741824']
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { applyTableSettings, createStorage, migrate, SPAN_COLUMNS, SPAN_TABLE } from "@cognive/collector";
import { createChdbConnection } from "chdb/connection";
import { queryRows } from "../collector/src/storage/sql.ts";
import {
  cpuByThreadName,
  loadAverage,
  machine,
  perEachByName,
  report,
  storageTimeEvents,
  storageTimeSpent,
  threadCpu,
} from "./lib.ts";
import { spanRowsInsert } from "./span-rows.ts";

const { values: args } = parseArgs({
  options: {
    loads: { type: "string", default: "600" },
    rows: { type: "string", default: "69500" },
    distinct: { type: "string", default: "40" },
    every: { type: "string", default: "100" },
    settle: { type: "string", default: "30" },
    rounds: { type: "string", default: "1" },
    variant: { type: "string", multiple: true, default: [] },
    "variants-only": { type: "boolean", default: false },
  },
});
const LOADS = Number(args.loads);
const ROWS = Number(args.rows);
const DISTINCT = Math.min(Number(args.distinct), LOADS);
const EVERY = Number(args.every);
const SETTLE = Number(args.settle);
const ROUNDS = Number(args.rounds);
for (const [k, v] of Object.entries({ LOADS, ROWS, DISTINCT, EVERY, ROUNDS }))
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${k.toLowerCase()} is a positive integer`);
if (!Number.isFinite(SETTLE) || SETTLE < 0) throw new Error("--settle is seconds");
const VARIANTS = [
  ...(args["variants-only"] ? [] : [{ name: "as stored", sql: [] as string[] }]),
  ...args.variant.map((v) => {
    const eq = v.indexOf("=");
    if (eq < 1) throw new Error(`--variant is name=SQL, not ${v}`);
    return {
      name: v.slice(0, eq),
      sql: v
        .slice(eq + 1)
        .split(";;")
        .filter((q) => q.trim() !== ""),
    };
  }),
];
if (VARIANTS.length === 0) throw new Error("--variants-only needs a --variant");
const DB = "cognive";
/** Seconds of spans a load holds (the log loads about every 1.25 s at 55,000 spans/s). */
const LOAD_SECONDS = 1.25;

interface Checkpoint {
  loads: number;
  seconds: number;
  mergesUsPerSpan: number;
  restUsPerSpan: number;
}

async function runOnce(variant: (typeof VARIANTS)[number]) {
  const dir = mkdtempSync(join(tmpdir(), "cognive-merges-"));
  const shm = mkdtempSync(join("/dev/shm", "cognive-merges-"));
  const storage = createStorage({ dataDir: dir, database: DB });
  const conn = createChdbConnection({ path: dir });
  const sql = async (q: string) => Buffer.from((await conn.chdb.queryAsync(q)).bytes()).toString();
  try {
    await migrate(storage);
    // As the server leaves its tables at start.
    await applyTableSettings(storage);
    const cols = SPAN_COLUMNS.join(", ");
    const start = Math.floor(Date.now() / 1000) - 3600;
    await sql(`CREATE TABLE ${DB}.bench_source AS ${DB}.${SPAN_TABLE} ENGINE = Memory`);
    const files: string[] = [];
    for (let k = 0; k < DISTINCT; k++) {
      const first = k * ROWS;
      await sql(`TRUNCATE TABLE ${DB}.bench_source`);
      await sql(
        spanRowsInsert(`${DB}.bench_source`, ROWS, {
          first,
          timestamp: `toDateTime64(${start} + ${k * LOAD_SECONDS} + (number - ${first}) * ${LOAD_SECONDS} / ${ROWS}, 9)`,
        }),
      );
      const file = join(shm, `load-${k}.Native`);
      const native = await conn.chdb.queryAsync(
        `SELECT ${cols} FROM ${DB}.bench_source FORMAT Native SETTINGS low_cardinality_allow_in_native_format = 0`,
      );
      writeFileSync(file, Buffer.from(native.bytes()));
      files.push(file);
    }
    await sql(`DROP TABLE ${DB}.bench_source`);
    for (const q of variant.sql) await sql(q.replaceAll("{db}", DB));
    process.stdout.write(`${variant.name}: ${LOADS} loads of ${ROWS} spans (${DISTINCT} distinct)\n`);

    const pids = [process.pid];
    const eventsAtStart = await storageTimeEvents(sql);
    const threadsAtStart = threadCpu(pids);
    const cpuAtStart = process.cpuUsage();
    const started = performance.now();
    const checkpoints: Checkpoint[] = [];
    const checkpoint = (loads: number) => {
      const cpu = process.cpuUsage(cpuAtStart);
      const total = (cpu.user + cpu.system) / 1e6;
      const merges = cpuByThreadName(threadsAtStart, threadCpu(pids), total).MergeMutate ?? 0;
      const spans = loads * ROWS;
      const c = {
        loads,
        seconds: (performance.now() - started) / 1000,
        mergesUsPerSpan: (merges / spans) * 1e6,
        restUsPerSpan: ((total - merges) / spans) * 1e6,
      };
      checkpoints.push(c);
      process.stdout.write(
        `  ${loads} loads (${(spans / 1e6).toFixed(1)} M spans), ${c.seconds.toFixed(0)} s: merges ${c.mergesUsPerSpan.toFixed(2)}, ` +
          `the rest ${c.restUsPerSpan.toFixed(2)} µs CPU a span so far\n`,
      );
    };
    for (let i = 0; i < LOADS; i++) {
      const shiftMs = Math.round(Math.floor(i / DISTINCT) * DISTINCT * LOAD_SECONDS * 1000);
      await sql(
        `INSERT INTO ${DB}.${SPAN_TABLE} (${cols})
         SELECT * REPLACE (Timestamp + toIntervalMillisecond(${shiftMs}) AS Timestamp) FROM file('${files[i % DISTINCT]}', Native)`,
      );
      if ((i + 1) % EVERY === 0 && i + 1 < LOADS) checkpoint(i + 1);
    }
    // Merges the last loads started finish (or not) within the settling time, counted.
    await new Promise((r) => setTimeout(r, SETTLE * 1000));
    checkpoint(LOADS);
    const spans = LOADS * ROWS;
    // Storage's own accounting of the same time: where merges and inserts go inside it.
    const storageTime = perEachByName(storageTimeSpent(eventsAtStart, await storageTimeEvents(sql)), spans, 1e6, 3);
    process.stdout.write(
      `  storage's time counters, µs a span: ${Object.entries(storageTime)
        .filter(([, us]) => us >= 0.01)
        .map(([event, us]) => `${event} ${us}`)
        .join(", ")}\n`,
    );
    // A part a merge made spans several inserts' block numbers (an insert into a merging engine gets
    // level 1 too); outdated parts stay listed for a while after the merge that replaced them.
    const merged = "max_block_number > min_block_number";
    const tables = await queryRows<{
      table: string;
      activeParts: number;
      mergedParts: number;
      mergedRowsPerSpan: number;
      maxLevel: number;
      diskBytes: string;
    }>(
      storage,
      `SELECT table, toUInt32(countIf(active)) AS activeParts, toUInt32(countIf(${merged})) AS mergedParts,
         round(sumIf(rows, ${merged}) / ${spans}, 2) AS mergedRowsPerSpan, toUInt32(max(level)) AS maxLevel,
         toUInt64(sumIf(bytes_on_disk, active)) AS diskBytes
       FROM system.parts WHERE database = '${DB}' AND table NOT LIKE 'schema_migrations%'
       GROUP BY table HAVING activeParts > 0 ORDER BY mergedRowsPerSpan DESC`,
    );
    for (const t of tables)
      process.stdout.write(
        `  ${t.table}: ${t.activeParts} parts, ${t.mergedParts} made by merges, ${t.mergedRowsPerSpan} rows written by merges a span, ` +
          `level ≤ ${t.maxLevel}, ${(Number(t.diskBytes) / 2 ** 20).toFixed(1)} MiB\n`,
      );
    return { variant: variant.name, checkpoints, tables, storageTime };
  } finally {
    await conn.close();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(shm, { recursive: true, force: true });
  }
}

async function main() {
  const runs: Awaited<ReturnType<typeof runOnce>>[] = [];
  for (let r = 1; r <= ROUNDS; r++)
    for (const v of VARIANTS) {
      process.stdout.write(`round ${r}: `);
      runs.push(await runOnce(v));
    }
  const last = (run: (typeof runs)[number]) => run.checkpoints[run.checkpoints.length - 1] as Checkpoint;
  report(
    "merges",
    [
      ...runs.map((run): [string, string] => [
        `${run.variant}: merges · the rest, µs CPU a span`,
        `${run.checkpoints.map((c) => `${c.loads}: ${c.mergesUsPerSpan.toFixed(2)}`).join(" → ")} · ${last(run).restUsPerSpan.toFixed(2)}`,
      ]),
      ["load average (1 min, at the end)", String(loadAverage())],
    ],
    {
      date: new Date().toISOString(),
      machine: machine(),
      params: { loads: LOADS, rows: ROWS, distinct: DISTINCT, every: EVERY, settle: SETTLE, rounds: ROUNDS },
      runs,
    } as { date: string; machine: ReturnType<typeof machine> },
  );
}

await main();
