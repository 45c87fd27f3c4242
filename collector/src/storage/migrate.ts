import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "../log.ts";
import type { Storage } from "./client.ts";
import { checkClusterName, clusterMigrations } from "./cluster.ts";
import { type Migration, migrations } from "./schema.ts";
import { queryRows } from "./sql.ts";

export const MIGRATIONS_TABLE = "schema_migrations";
export const MIGRATION_LOCK_TABLE = "schema_migrations_lock";

export interface MigrationPlan {
  /** Run before the lock is taken, every time: the database, the version table and the lock table. */
  bootstrap: string[];
  migrations: Migration[];
}

/**
 * Every statement a migration run may execute, with `{db}` placeholders: the single-node DDL, or
 * with `cluster` its cluster variant. On a cluster the version and lock tables are one replica set
 * spanning every node (not sharded), so any node reads every row.
 */
export function migrationPlan(cluster?: string, list: readonly Migration[] = migrations): MigrationPlan {
  const on = cluster === undefined ? "" : ` ON CLUSTER ${checkClusterName(cluster)}`;
  const engine = (table: string) =>
    cluster ? `ReplicatedMergeTree('/clickhouse/tables/all/{db}/${table}', '{replica}')` : "MergeTree";
  return {
    bootstrap: [
      `CREATE DATABASE IF NOT EXISTS {db}${on}`,
      `CREATE TABLE IF NOT EXISTS {db}.${MIGRATIONS_TABLE}${on} (Version UInt32, Name String, AppliedAt DateTime DEFAULT now())
            ENGINE = ${engine(MIGRATIONS_TABLE)} ORDER BY Version`,
      // Append-only: a holder's latest row (highest Seq) says until when it holds; Until 0 releases.
      `CREATE TABLE IF NOT EXISTS {db}.${MIGRATION_LOCK_TABLE}${on} (
        Holder String, Seq UInt32, Attempt DateTime64(6, 'UTC'), Until DateTime64(3, 'UTC')
      ) ENGINE = ${engine(MIGRATION_LOCK_TABLE)} ORDER BY (Holder, Seq)
      TTL toDateTime(Attempt) + INTERVAL 7 DAY`,
    ],
    migrations: cluster !== undefined ? clusterMigrations(list, cluster) : [...list],
  };
}

/** The plan as `cognive migrate --dry-run` prints it: numbered by version, `{db}` replaced. */
export function renderPlan(plan: MigrationPlan, db: string): string {
  const block = (s: string) => `${s.replaceAll("{db}", db).trim()};\n`;
  const parts = [`-- bootstrap (every run)\n${plan.bootstrap.map(block).join("\n")}`];
  for (const m of plan.migrations)
    parts.push(`-- migration ${m.version}: ${m.name}\n${m.statements.map(block).join("\n")}`);
  return parts.join("\n");
}

export interface MigrateOptions {
  /** Run the cluster variant with `ON CLUSTER <name>`. */
  cluster?: string;
  /** How long a lock holder is trusted without renewing (a crashed holder's lock expires after it). */
  leaseMs?: number;
  /** Pause between attempts to take a held lock. */
  retryMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The migration lock: a lease row per holder; the earliest unexpired attempt holds it. */
class MigrationLock {
  readonly holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private seq = 0;
  constructor(
    private storage: Storage,
    private leaseMs: number,
    private clustered: boolean,
  ) {}

  private async write(until: number, attemptNow: boolean): Promise<void> {
    const db = this.storage.database;
    this.seq++;
    // The attempt time is the server's, taken at insert, so attempts order the same for every holder.
    await this.storage.client.command({
      query: `INSERT INTO ${db}.${MIGRATION_LOCK_TABLE} (Holder, Seq, Attempt, Until)
              SELECT {h:String}, {s:UInt32}, ${
                attemptNow
                  ? "now64(6)"
                  : `(SELECT argMax(Attempt, Seq) FROM ${db}.${MIGRATION_LOCK_TABLE} WHERE Holder = {h:String})`
              }, fromUnixTimestamp64Milli({u:Int64}, 'UTC')`,
      query_params: { h: this.holder, s: this.seq, u: until },
      // On a cluster a lock row counts once a majority of replicas has it, and reads see only such rows.
      ...(this.clustered ? { clickhouse_settings: { insert_quorum: "auto", insert_quorum_parallel: 0 as const } } : {}),
    });
  }

  /** The holder whose unexpired attempt came first, and until when it holds. */
  private async first(): Promise<{ Holder: string; Until: string } | undefined> {
    const rs = await this.storage.client.query({
      query: `SELECT Holder, toString(U) AS Until FROM (
         SELECT Holder, argMax(Until, Seq) AS U, argMax(Attempt, Seq) AS A FROM {db:Identifier}.${MIGRATION_LOCK_TABLE} GROUP BY Holder)
       WHERE U > now64(3) ORDER BY A, Holder LIMIT 1`,
      query_params: { db: this.storage.database },
      format: "JSONEachRow",
      ...(this.clustered ? { clickhouse_settings: { select_sequential_consistency: "1" } } : {}),
    });
    return ((await rs.json()) as { Holder: string; Until: string }[])[0];
  }

  async acquire(retryMs: number, log?: Logger): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await this.write(Date.now() + this.leaseMs, true);
      const first = await this.first();
      if (first?.Holder === this.holder) return;
      await this.write(0, false); // withdraw, so a later holder is not queued behind a stale attempt
      log?.info("storage: waiting for the migration lock", { heldBy: first?.Holder, until: first?.Until, attempt });
      await sleep(retryMs);
    }
  }

  renew(): Promise<void> {
    return this.write(Date.now() + this.leaseMs, false);
  }

  release(): Promise<void> {
    return this.write(0, false);
  }
}

/**
 * Applies every migration newer than the recorded version, holding the migration lock so two runs
 * never interleave (the second waits, then finds nothing left to do). Safe to run any number of times.
 */
export async function migrate(
  storage: Storage,
  log?: Logger,
  list: Migration[] = migrations,
  options: MigrateOptions = {},
): Promise<number> {
  const db = storage.database;
  const plan = migrationPlan(options.cluster, list);
  const run = (statement: string) => storage.client.command({ query: statement.replaceAll("{db}", db) });
  for (const s of plan.bootstrap) await run(s);
  const leaseMs = options.leaseMs ?? 10 * 60_000;
  const lock = new MigrationLock(storage, leaseMs, options.cluster !== undefined);
  await lock.acquire(options.retryMs ?? 1000, log);
  try {
    const rows = await queryRows<{ v: number | string }>(
      storage,
      `SELECT max(Version) AS v FROM {db:Identifier}.${MIGRATIONS_TABLE}`,
      { db },
    );
    const current = Number(rows[0]?.v ?? 0);
    let applied = 0;
    for (const m of plan.migrations) {
      if (m.version <= current) continue;
      // A backfill on a large store can take minutes: say what is running.
      log?.info("storage: applying migration", { version: m.version, name: m.name });
      for (const statement of m.statements) {
        // A statement may outlast the lease (a backfill on a large store): renew it meanwhile, or a
        // second migrator would take the lock and run the same statements.
        const heartbeat = setInterval(() => void lock.renew().catch(() => {}), Math.max(50, leaseMs / 3));
        try {
          await run(statement);
        } finally {
          clearInterval(heartbeat);
        }
        await lock.renew();
      }
      await storage.client.insert({
        table: `${db}.${MIGRATIONS_TABLE}`,
        values: [{ Version: m.version, Name: m.name }],
        format: "JSONEachRow",
      });
      log?.info("storage: migration applied", { version: m.version, name: m.name });
      applied++;
    }
    return applied;
  } finally {
    await lock.release();
  }
}
