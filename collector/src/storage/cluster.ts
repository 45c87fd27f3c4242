/**
 * The cluster variant of the migrations: the same statement list, rewritten for a ClickHouse cluster.
 * Each MergeTree-family table becomes `<name>_local` (Replicated*, one replica set per `{shard}`) and a
 * Distributed table keeps the original name, so readers and writers use the names they always did.
 * Materialized views read the LOCAL span table and write the LOCAL target: each shard aggregates the
 * spans it stores. Only CREATE TABLE / CREATE MATERIALIZED VIEW / ALTER / DROP / DELETE / EXCHANGE are rewritten;
 * backfill INSERT … SELECT statements run unchanged through the Distributed tables.
 */
import {
  AGENT_RUNS_TABLE,
  ALERT_DELIVERIES_TABLE,
  ALERTS_TABLE,
  API_KEY_USAGE_TABLE,
  API_KEYS_TABLE,
  AUDIT_TABLE,
  LLM_HISTOGRAM_TABLE,
  LLM_ROLLUP_TABLE,
  LOGS_TABLE,
  type Migration,
  SPAN_TABLE,
  TRACE_DOCS_TABLE,
  TRACE_SUMMARY_TABLE,
  TRACE_TS_TABLE,
} from "./schema.ts";
import { splitTopLevel } from "./sql.ts";

/** The Distributed sharding key of each table; tables not listed are spread by `rand()`. */
export const SHARDING_KEYS: Readonly<Record<string, string>> = {
  // One trace on one shard, so the per-trace views see all of a trace's spans.
  [SPAN_TABLE]: "cityHash64(TraceId)",
  // Logs outside any trace would all hash the empty id to one shard: those spread at random.
  [LOGS_TABLE]: "if(TraceId = '', rand64(), cityHash64(TraceId))",
  [TRACE_TS_TABLE]: "cityHash64(TraceId)",
  [TRACE_SUMMARY_TABLE]: "cityHash64(TraceId)",
  [TRACE_DOCS_TABLE]: "cityHash64(TraceId)",
  // Used by direct inserts (backfills); the views write where the span landed.
  [LLM_ROLLUP_TABLE]: "cityHash64(TeamName)",
  [LLM_HISTOGRAM_TABLE]: "cityHash64(TeamName)",
  [AGENT_RUNS_TABLE]: "cityHash64(TeamName)",
  // Same id on the same shard, so ReplacingMergeTree keeps one row per alert.
  [ALERTS_TABLE]: "cityHash64(Id)",
  [ALERT_DELIVERIES_TABLE]: "cityHash64(AlertId)",
  [API_KEYS_TABLE]: "cityHash64(Id)",
  [API_KEY_USAGE_TABLE]: "cityHash64(Id)",
  // A hash chain stays on one shard.
  [AUDIT_TABLE]: "cityHash64(Chain)",
};

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Throws unless `name` can be used bare as a cluster name. */
export function checkClusterName(name: string): string {
  if (!NAME.test(name)) throw new Error(`invalid cluster name "${name}": letters, digits and _ only`);
  return name;
}

/** `{db}.<table>` not followed by more name characters. */
const ref = (table: string) => new RegExp(`\\{db\\}\\.${table}(?![A-Za-z0-9_])`, "g");

/**
 * Rewrites one statement; `replicated` collects the tables made local so far, `created` names
 * every table some statement of the list creates.
 */
function rewrite(statement: string, cluster: string, replicated: Set<string>, created: Set<string>): string[] {
  const on = `ON CLUSTER ${cluster}`;
  const local = (s: string) => {
    let out = s;
    for (const t of replicated) out = out.replace(ref(t), `{db}.${t}_local`);
    return out;
  };

  // A table with another's columns (`AS {db}.<source>`): the local copy takes the local source's.
  const copy = /^(\s*CREATE TABLE IF NOT EXISTS \{db\}\.)(\w+)(\s+AS \{db\}\.)(\w+)(\s)/.exec(statement);
  const table = copy ?? /^(\s*CREATE TABLE IF NOT EXISTS \{db\}\.)(\w+)(\s*\()/.exec(statement);
  if (table) {
    const name = table[2];
    const engine = /ENGINE = (\w*MergeTree)(?:\(([^)]*)\))?/.exec(statement);
    if (!engine) throw new Error(`cluster DDL: table ${name} has no MergeTree engine`);
    const args = [`'/clickhouse/tables/{shard}/{db}/${name}_local'`, `'{replica}'`, ...(engine[2] ? [engine[2]] : [])];
    replicated.add(name);
    const head = copy ? `${copy[3]}${copy[4]}_local${copy[5]}` : table[3];
    const localDdl = statement
      .replace(table[0], `${table[1]}${name}_local ${on}${head}`)
      .replace(engine[0], `ENGINE = Replicated${engine[1]}(${args.join(", ")})`);
    const key = SHARDING_KEYS[name] ?? (copy ? SHARDING_KEYS[copy[4]] : undefined) ?? "rand()";
    return [
      localDdl,
      `CREATE TABLE IF NOT EXISTS {db}.${name} ${on} AS {db}.${name}_local
       ENGINE = Distributed(${cluster}, '{db}', '${name}_local', ${key})`,
    ];
  }

  const view = /^(\s*CREATE MATERIALIZED VIEW IF NOT EXISTS \{db\}\.\w+)( TO )/.exec(statement);
  if (view) return [local(statement.replace(view[0], `${view[1]} ${on}${view[2]}`))];

  const drop = /^(\s*DROP (VIEW|TABLE) IF EXISTS \{db\}\.)(\w+)/.exec(statement);
  if (drop) {
    const dropped = [statement.replace(drop[0], `${drop[0]} ${on}`)];
    // A replicated table goes with its Distributed front; so does one a later statement creates
    // (a migration that starts by dropping what an interrupted run of it left).
    if (drop[2] === "TABLE" && (replicated.has(drop[3]) || created.has(drop[3]))) {
      replicated.delete(drop[3]);
      // SYNC: the replica's Keeper path is freed at once, so a table made again under the same name
      // (a re-sort's copy, a rebuild) can register it in the same run.
      dropped.push(`${statement.replace(drop[0], `${drop[1]}${drop[3]}_local ${on}`).trimEnd()} SYNC`);
    }
    return dropped;
  }

  // The swap exchanges the local tables; each Distributed front keeps pointing at its local name.
  const exchange = /^(\s*EXCHANGE TABLES \{db\}\.)(\w+)( AND \{db\}\.)(\w+)\s*$/.exec(statement);
  if (exchange && replicated.has(exchange[2]) && replicated.has(exchange[4]))
    return [`${exchange[1]}${exchange[2]}_local${exchange[3]}${exchange[4]}_local ${on}`];

  const alter = /^(\s*ALTER TABLE \{db\}\.)(\w+)\s+([\s\S]*)$/.exec(statement);
  if (alter) {
    const [, head, name, body] = alter;
    if (!replicated.has(name)) return [`${head}${name} ${on}\n         ${body}`];
    const out = [`${head}${name}_local ${on}\n         ${body}`];
    // The Distributed table mirrors the columns; sorting keys, settings and TTL live on the local one.
    const columns = splitTopLevel(body).filter((c) => /^(ADD|DROP|MODIFY|RENAME) COLUMN /.test(c));
    if (columns.length > 0) out.push(`${head}${name} ${on}\n         ${columns.join(",\n         ")}`);
    return out;
  }

  // Lightweight deletes cannot go through a Distributed table: each shard deletes its own rows.
  const del = /^(\s*DELETE FROM \{db\}\.)(\w+)(\s)/.exec(statement);
  if (del && replicated.has(del[2])) return [statement.replace(del[0], `${del[1]}${del[2]}_local ${on}${del[3]}`)];

  // INSERT … SELECT backfills read and write the Distributed tables: rows go to the shard their key picks.
  if (/^\s*INSERT INTO /.test(statement)) return [statement];
  throw new Error(`cluster DDL: no rewrite for statement: ${statement.trim().slice(0, 80)}`);
}

/**
 * The migrations for a cluster: the same versions and names, each statement rewritten. `seed` names
 * tables already made replicated by statements outside the list (the bootstrap tables).
 */
export function clusterMigrations(
  list: readonly Migration[],
  cluster: string,
  seed: Iterable<string> = [],
): Migration[] {
  checkClusterName(cluster);
  const replicated = new Set<string>(seed);
  const created = new Set(
    list.flatMap((m) => m.statements.map((s) => /^\s*CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)/.exec(s)?.[1] ?? "")),
  );
  return list.map((m) => ({
    ...m,
    statements: m.statements.flatMap((s) => rewrite(s, cluster, replicated, created)),
  }));
}
