import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Logger } from "../src/log.ts";
import { createStorage, type Storage } from "../src/storage/client.ts";
import { clusterMigrations } from "../src/storage/cluster.ts";
import { MIGRATION_LOCK_TABLE, migrate, migrationPlan } from "../src/storage/migrate.ts";
import { migrations } from "../src/storage/schema.ts";
import { queryRows } from "../src/storage/sql.ts";

// libchdb binds one data directory per process: each test uses its own database in it instead.
let base: Storage;
const dir = mkdtempSync(join(tmpdir(), "cognive-migrate-lock-"));
beforeAll(() => {
  base = createStorage({ dataDir: dir, database: "cognive" });
});
afterAll(async () => {
  await base.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

/** The same embedded store under another database name, its commands recorded. */
function inDatabase(database: string, commands: string[] = []): Storage {
  const client = new Proxy(base.client, {
    get(target, prop, receiver) {
      if (prop !== "command") return Reflect.get(target, prop, receiver);
      return (params: { query: string }) => {
        commands.push(params.query);
        return target.command(params as Parameters<typeof target.command>[0]);
      };
    },
  });
  return { ...base, database, client } as Storage;
}

function recordingLog(): Logger & { lines: { msg: string; fields?: Record<string, unknown> }[] } {
  const lines: { msg: string; fields?: Record<string, unknown> }[] = [];
  const push = (msg: string, fields?: Record<string, unknown>) => lines.push({ msg, fields });
  return { lines, debug: push, info: push, warn: push, error: push };
}

const versions = async (s: Storage) =>
  (
    await queryRows<{ Version: number }>(s, "SELECT Version FROM {db:Identifier}.schema_migrations ORDER BY Version", {
      db: s.database,
    })
  ).map((r) => Number(r.Version));

describe("migrate", { timeout: 60_000 }, () => {
  it("runs exactly the statements the dry run prints, in order", async () => {
    const commands: string[] = [];
    const s = inDatabase("plan_db", commands);
    await migrate(s);
    const plan = migrationPlan();
    const expected = [...plan.bootstrap, ...plan.migrations.flatMap((m) => m.statements)].map((q) =>
      q.replaceAll("{db}", "plan_db"),
    );
    // The lock's own writes are commands too; everything else is the plan.
    expect(commands.filter((q) => !q.includes(MIGRATION_LOCK_TABLE) || q.startsWith("CREATE TABLE"))).toEqual(expected);
  });

  it("two concurrent runs apply every migration exactly once; one waits for the other", async () => {
    const s = inDatabase("concurrent_db");
    const logs = [recordingLog(), recordingLog()];
    const applied = await Promise.all(logs.map((log) => migrate(s, log, undefined, { retryMs: 20 })));
    expect(applied.reduce((a, b) => a + b, 0)).toBe(migrations.length);
    expect(applied).toContain(0);
    expect(await versions(s)).toEqual(migrations.map((m) => m.version));
    const waited = logs.flatMap((l) => l.lines).filter((l) => l.msg.includes("waiting for the migration lock"));
    expect(waited.length).toBeGreaterThan(0);
    expect(waited[0].fields?.heldBy).toMatch(/:\d+:/);
  });

  it("waits for a live holder until it releases, and ignores a crashed holder's expired lease", async () => {
    const s = inDatabase("lease_db");
    await migrate(s, undefined, []); // bootstrap only: database, version and lock tables
    const hold = (holder: string, seq: number, until: string) =>
      s.client.command({
        query: `INSERT INTO lease_db.${MIGRATION_LOCK_TABLE} (Holder, Seq, Attempt, Until)
                VALUES ({h:String}, {s:UInt32}, now64(6) - INTERVAL 1 SECOND, ${until})`,
        query_params: { h: holder, s: seq },
      });
    await hold("crashed", 1, "now64(3) - INTERVAL 1 MINUTE");
    await hold("live", 1, "now64(3) + INTERVAL 1 HOUR");
    const log = recordingLog();
    let released = false;
    const info = log.info;
    log.info = (msg, fields) => {
      info(msg, fields);
      // The live holder finishes once we have been seen waiting for it.
      if (msg.includes("waiting") && !released) {
        released = true;
        void hold("live", 2, "0");
      }
    };
    expect(await migrate(s, log, undefined, { retryMs: 20 })).toBe(migrations.length);
    expect(log.lines.find((l) => l.msg.includes("waiting"))?.fields?.heldBy).toBe("live");
    expect(log.lines.some((l) => l.fields?.heldBy === "crashed")).toBe(false);
  });
});

describe("a statement longer than the lease", { timeout: 30_000 }, () => {
  it("keeps the lock: a second run waits instead of running it again", async () => {
    const ran: number[] = [];
    // A statement that takes 1.2 s before it reaches the store, as a long backfill on a server would.
    const client = new Proxy(base.client, {
      get(target, prop, receiver) {
        if (prop !== "command") return Reflect.get(target, prop, receiver);
        return async (params: { query: string }) => {
          if (params.query.includes("/* long */")) {
            ran.push(Date.now());
            await new Promise((r) => setTimeout(r, 1_200));
          }
          return target.command(params as Parameters<typeof target.command>[0]);
        };
      },
    });
    const s = { ...base, database: "long_db", client } as Storage;
    const list = [{ version: 1, name: "long", statements: ["SELECT 1 /* long */"] }];
    const options = { leaseMs: 300, retryMs: 20 };
    const first = migrate(s, undefined, list, options);
    await new Promise((r) => setTimeout(r, 150));
    const applied = await Promise.all([first, migrate(s, undefined, list, options)]);
    expect(applied).toEqual([1, 0]);
    expect(ran).toHaveLength(1);
  });
});

describe("cluster variant", () => {
  const plan = migrationPlan("c1");
  const all = [...plan.bootstrap, ...plan.migrations.flatMap((m) => m.statements)];

  it("puts every CREATE, ALTER, DROP and DELETE on the cluster", () => {
    for (const s of all.filter((q) => /^\s*(CREATE|ALTER|DROP|DELETE)/.test(q))) expect(s).toContain("ON CLUSTER c1");
  });

  it("makes each MergeTree table local and replicated, with a Distributed table under its name", () => {
    const spans = all.find((q) => q.includes("{db}.otel_traces_local ON CLUSTER c1 ("));
    expect(spans).toContain(
      "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{db}/otel_traces_local', '{replica}')",
    );
    expect(all).toContainEqual(
      expect.stringContaining("Distributed(c1, '{db}', 'otel_traces_local', cityHash64(TraceId))"),
    );
    expect(all).toContainEqual(
      expect.stringContaining("Distributed(c1, '{db}', 'llm_rollup_1m_local', cityHash64(TeamName))"),
    );
    // Engine arguments follow the path and replica.
    expect(all).toContainEqual(
      expect.stringContaining(
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{db}/api_key_usage_local', '{replica}', LastUsedAt)",
      ),
    );
    expect(all.filter((q) => /ENGINE = (Summing|Aggregating|Replacing)?MergeTree\b/.test(q))).toEqual([]);
  });

  it("attaches views to the local span (or log) table and writes their local targets", () => {
    const views = all.filter((q) => q.includes("MATERIALIZED VIEW"));
    expect(views.length).toBe(11);
    for (const v of views) {
      expect(v).toMatch(/ TO \{db\}\.\w+_local AS/);
      expect(v).toMatch(/FROM \{db\}\.otel_(traces|logs)_local/);
      expect(v).not.toMatch(/\{db\}\.otel_(traces|logs)(?![_\w])/);
    }
    expect(views.filter((v) => v.includes("FROM {db}.otel_logs_local")).length).toBe(1);
  });

  it("alters the Distributed table's columns but keeps sorting keys and TTL on the local table", () => {
    const m11 = plan.migrations.find((m) => m.version === 11)?.statements ?? [];
    const dist = m11.find((q) => q.startsWith("ALTER TABLE {db}.llm_rollup_1m ON CLUSTER"));
    expect(dist).toContain("ADD COLUMN IF NOT EXISTS RequestModel");
    expect(dist).not.toContain("MODIFY ORDER BY");
    const ttl = plan.migrations.find((m) => m.version === 12)?.statements ?? [];
    for (const q of ttl) expect(q).toMatch(/^ALTER TABLE \{db\}\.\w+_local ON CLUSTER c1\s+MODIFY (TTL|SETTING)/);
  });

  it("is statements ClickHouse's own parser accepts (no server with Keeper here to run them)", async () => {
    for (const q of all) {
      const [row] = await queryRows<{ f: string }>(base, "SELECT formatQuery({q:String}) AS f", {
        q: q.replaceAll("{db}", "cognive"),
      });
      if (/^\s*(CREATE|ALTER|DROP|DELETE)/.test(q)) expect(row.f).toContain("ON CLUSTER c1");
    }
  });

  it("rejects a cluster name that is not an identifier, and a statement it cannot rewrite", () => {
    expect(() => migrationPlan("c1; DROP DATABASE x")).toThrow(/invalid cluster name/);
    expect(() => migrationPlan("")).toThrow(/invalid cluster name/);
    expect(() => clusterMigrations([{ version: 1, name: "x", statements: ["OPTIMIZE TABLE {db}.t"] }], "c1")).toThrow(
      /no rewrite/,
    );
  });
});
