import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { type ClickHouseClient, type ClickHouseClientConfigOptions, createClient } from "@clickhouse/client";
// Before chDB loads: its allocator reads its settings then.
import "./allocator.ts";
import { drainPending } from "chdb";
import { createChdbConnection } from "chdb/connection";
import { answersWithin } from "../async.ts";
import type { EnvConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import { checkClusterName } from "./cluster.ts";
import { SPAN_TABLE, STORAGE_PROBE_TABLE } from "./schema.ts";
import { quotedString } from "./tsv.ts";

export interface StorageConfig {
  /** ClickHouse server URL; when absent, embedded chDB under `dataDir` is used. */
  clickhouseUrl?: string;
  dataDir: string;
  database: string;
  /** The ClickHouse cluster the server belongs to (tables made by `cognive migrate --cluster`). */
  cluster?: string;
}

/** The storage settings of the environment. */
export function storageConfig(
  config: Pick<EnvConfig, "CLICKHOUSE_URL" | "COGNIVE_DATA_DIR" | "COGNIVE_DATABASE" | "COGNIVE_CLUSTER">,
): StorageConfig {
  return {
    clickhouseUrl: config.CLICKHOUSE_URL,
    dataDir: config.COGNIVE_DATA_DIR,
    database: config.COGNIVE_DATABASE,
    cluster: config.COGNIVE_CLUSTER,
  };
}

/**
 * The one way into ClickHouse, for both transports. Reads use `client` with bound parameters;
 * bulk span writes use `insertTsv`, which takes the fastest path the transport offers.
 */
export interface Storage {
  readonly client: ClickHouseClient;
  readonly database: string;
  readonly kind: "chdb" | "server";
  /** Set when the tables are the cluster variant (writers use the Distributed tables, their usual names). */
  readonly cluster?: string;
  insertTsv(table: string, columns: readonly string[], body: Buffer | string): Promise<void>;
  /** Inserts RowBinary rows of `columns` (name and type each, in the rows' order). */
  insertRowBinary(table: string, columns: readonly RowColumn[], body: Buffer): Promise<void>;
  /** Inserts Native blocks (storage/native.ts) whose columns are `columns`, in that order. */
  insertNative(table: string, columns: readonly string[], body: Buffer): Promise<void>;
  /** Resolves when storage answers a trivial read on the write path (not queued behind reads). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface RowColumn {
  name: string;
  type: string;
}

const names = (columns: readonly string[]) => columns.map((c) => `\`${c}\``).join(", ");
const columnList = (columns: readonly RowColumn[]) => names(columns.map((c) => c.name));

type ClientConnection = NonNullable<ClickHouseClientConfigOptions["connection"]>;

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Settings every read needs: 64-bit integers as JSON strings, so nothing loses precision. */
const READ_SETTINGS = {
  output_format_json_quote_64bit_integers: 1,
  output_format_json_quote_64bit_floats: 0,
  date_time_output_format: "iso",
  session_timezone: "UTC",
} as const;

/**
 * Settings of every request to a server. On a cluster:
 * - an insert into a Distributed table is acknowledged once the shards have the rows (foreground),
 *   not when they are queued on this node: an acknowledged export is stored, as on a single node;
 * - a read whose IN or JOIN subquery reads a Distributed table too (the trace list, the overview,
 *   sessions, searches) runs that subquery once, over every shard, and sends its result to each
 *   (GLOBAL): the answer a single node gives. ClickHouse refuses such reads by default.
 */
export function serverSettings(cluster?: string): ClickHouseClientConfigOptions["clickhouse_settings"] {
  return cluster === undefined
    ? { ...READ_SETTINGS }
    : { ...READ_SETTINGS, distributed_foreground_insert: 1, distributed_product_mode: "global" };
}

/** Whether storage answers now, on the write path: readiness must not wait behind slow reads. */
export async function probeStorage(storage: Storage): Promise<void> {
  await storage.ping();
}

/** Whether storage takes a write now (a full disk still answers reads). */
export async function probeStorageWrite(storage: Storage): Promise<void> {
  await storage.insertTsv(STORAGE_PROBE_TABLE, ["Time"], `${Math.floor(Date.now() / 1000)}\n`);
}

export function createStorage(config: StorageConfig, log?: Logger): Storage {
  if (!IDENT.test(config.database)) throw new Error(`invalid database name: ${JSON.stringify(config.database)}`);
  if (config.cluster !== undefined) {
    checkClusterName(config.cluster);
    if (!config.clickhouseUrl)
      throw new Error("a cluster needs a ClickHouse server URL (embedded storage is one node)");
  }
  if (config.clickhouseUrl) return serverStorage(config);
  return chdbStorage(config, log);
}

/**
 * Settings of every embedded insert. Storage compiled its views' aggregations and expressions to
 * machine code anew for each insert (0.25 µs a row of a 69,500-row load), more than the compiled code
 * saved: interpreted, a load costs 0.1-0.5 µs a row less (bench/RESULTS.md, 2026-12-05). An
 * insert's settings apply to its views too.
 */
const INSERT_SETTINGS = { compile_expressions: 0, compile_aggregate_expressions: 0, compile_sort_description: 0 };
const INSERT_SETTINGS_SQL = ` SETTINGS ${Object.entries(INSERT_SETTINGS)
  .map(([k, v]) => `${k} = ${v}`)
  .join(", ")}`;

/** Longest close() waits for statements still running on the embedded engine. */
const CLOSE_DRAIN_MS = 10_000;

function chdbStorage(config: StorageConfig, log?: Logger): Storage {
  mkdirSync(config.dataDir, { recursive: true });
  const connection = withSessionSettings(createChdbConnection({ path: config.dataDir }), READ_SETTINGS);
  // Writes, and probes, each on a session of their own: one chDB session runs one statement at a
  // time, so a slow read must not hold up a commit, nor a long insert a readiness probe.
  const writeConnection = createChdbConnection({ path: config.dataDir });
  const probeConnection = createChdbConnection({ path: config.dataDir });
  // chdb types the Connection against its own copy of @clickhouse/client-common; the shapes are the same.
  const client = createClient({ connection: connection as unknown as ClientConnection });
  log?.info("storage: embedded ClickHouse (chDB)", { dataDir: config.dataDir });
  // chDB's binding takes only text bodies: binary rows go through a file, in memory where there is
  // /dev/shm. The file is only a hand-over; the rows are durable once the INSERT has returned.
  let rowFiles: string | null = null;
  let rowFileSeq = 0;
  const onDisk = join(config.dataDir, "tmp");
  const rowFileDir = (base: string) => {
    mkdirSync(base, { recursive: true });
    removeStaleRowFiles(base);
    return mkdtempSync(join(base, `cognive-rows-${process.pid}-`));
  };
  const rowFile = () => {
    rowFiles ??= rowFileDir(roomyShm() ? "/dev/shm" : onDisk);
    return join(rowFiles, `${++rowFileSeq}.bin`);
  };
  /** Writes `body` to a row file, runs `insert` on it, and removes it. */
  const viaFile = async (body: Buffer, insert: (file: string) => Promise<unknown>): Promise<void> => {
    let file = rowFile();
    try {
      try {
        await writeFile(file, body);
      } catch (err) {
        // /dev/shm filled up (a container's is 64 MiB by default): hand rows over on disk from now on.
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC" || rowFiles === null || rowFiles.startsWith(onDisk))
          throw err;
        await rm(file, { force: true });
        // The old directory empties as its inserts end; a restart removes it.
        rowFiles = rowFileDir(onDisk);
        log?.warn("storage: /dev/shm is full; span rows are handed to storage through the data directory");
        file = rowFile();
        await writeFile(file, body);
      }
      await insert(file);
    } finally {
      await rm(file, { force: true });
    }
  };
  return {
    client,
    database: config.database,
    kind: "chdb",
    async insertTsv(table, columns, body) {
      // rawInsert hands the buffer to chDB's parallel parser without a copy through the client.
      await writeConnection.chdb.rawInsert({
        table: `${config.database}.${table}`,
        columns,
        values: typeof body === "string" ? Buffer.from(body, "utf8") : body,
        format: "TSV",
        settings: INSERT_SETTINGS,
      });
    },
    async insertRowBinary(table, columns, body) {
      const structure = columns.map((c) => `\`${c.name}\` ${c.type}`).join(", ");
      await viaFile(body, (file) =>
        writeConnection.chdb.queryAsync(
          `INSERT INTO ${config.database}.${table} (${columnList(columns)}) ` +
            `SELECT * FROM file(${quotedString(file)}, RowBinary, ${quotedString(structure)})${INSERT_SETTINGS_SQL}`,
        ),
      );
    },
    async insertNative(table, columns, body) {
      // The blocks name their columns' types: no structure to give.
      await viaFile(body, (file) =>
        writeConnection.chdb.queryAsync(
          `INSERT INTO ${config.database}.${table} (${names(columns)}) SELECT * FROM file(${quotedString(file)}, Native)${INSERT_SETTINGS_SQL}`,
        ),
      );
    },
    async ping() {
      // Unbound: parameterized statements share one process-wide queue with the reads.
      await probeConnection.chdb.queryAsync(`SELECT 1 FROM ${config.database}.${SPAN_TABLE} LIMIT 0`);
    },
    async close() {
      await client.close();
      await writeConnection.close();
      await probeConnection.close();
      if (rowFiles !== null) rmSync(rowFiles, { recursive: true, force: true });
      // A statement still running (a bounded probe that timed out, say) keeps the data directory
      // bound after close() returns; wait for it, a while, so a restart in this process can open it.
      if (!(await answersWithin(drainPending(), CLOSE_DRAIN_MS)))
        log?.warn("storage: closed with a statement still running", { dataDir: config.dataDir });
    },
  };
}

type ChdbConnection = ReturnType<typeof createChdbConnection>;

/**
 * The connection with `settings` SET once, before its first statement. A SET stays on a chDB
 * session, so giving them to the client instead (which prefixes every statement with them) costs
 * each read 0.5-1 ms for nothing (bench/RESULTS.md, 2026-12-02).
 */
function withSessionSettings(conn: ChdbConnection, settings: Record<string, string | number>): ChdbConnection {
  const set = Object.entries(settings)
    .map(([k, v]) => `SET ${k} = ${typeof v === "number" ? v : quotedString(v)}`)
    .join("; ");
  let ready: Promise<unknown> | undefined;
  const init = () => {
    ready ??= conn.chdb.queryAsync(set).catch((err) => {
      ready = undefined;
      throw err;
    });
    return ready;
  };
  const statements = new Set<PropertyKey>(["query", "exec", "command", "insert"]);
  return new Proxy(conn, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (!statements.has(prop)) return value.bind(target);
      return async (...args: unknown[]) => {
        await init();
        return value.apply(target, args);
      };
    },
  });
}

/** Rows go through /dev/shm when it exists and has room for a few of the largest batches. */
const SHM_MIN_FREE_BYTES = 512 * 1024 * 1024;
function roomyShm(): boolean {
  if (!existsSync("/dev/shm")) return false;
  try {
    const fs = statfsSync("/dev/shm");
    return fs.bavail * fs.bsize >= SHM_MIN_FREE_BYTES;
  } catch {
    return false;
  }
}

/** Row files of collectors that died mid-insert (killed): their process is gone, so is the insert. */
function removeStaleRowFiles(base: string): void {
  for (const name of readdirSync(base)) {
    const pid = /^cognive-rows-(\d+)-/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid) continue;
    try {
      process.kill(Number(pid), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH") rmSync(join(base, name), { recursive: true, force: true });
    }
  }
}

function serverStorage(config: StorageConfig): Storage {
  const client = createClient({
    url: config.clickhouseUrl,
    clickhouse_settings: serverSettings(config.cluster),
    request_timeout: 60_000,
  });
  return {
    client,
    database: config.database,
    kind: "server",
    cluster: config.cluster,
    async insertTsv(table, columns, body) {
      await client.insert({
        table: `${config.database}.${table}`,
        columns: [...columns] as [string, ...string[]],
        // A byte stream: the client refuses an object-mode one (Readable.from's default) for raw formats.
        values: Readable.from([body], { objectMode: false }),
        format: "TabSeparated",
      });
    },
    async insertRowBinary(table, columns, body) {
      const r = await client.exec({
        query: `INSERT INTO ${config.database}.${table} (${columnList(columns)}) FORMAT RowBinary`,
        values: Readable.from([body], { objectMode: false }),
      });
      r.stream.resume();
    },
    async insertNative(table, columns, body) {
      const r = await client.exec({
        query: `INSERT INTO ${config.database}.${table} (${names(columns)}) FORMAT Native`,
        values: Readable.from([body], { objectMode: false }),
      });
      r.stream.resume();
    },
    async ping() {
      const r = await client.ping();
      if (!r.success) throw r.error;
    },
    async close() {
      await client.close();
    },
  };
}
