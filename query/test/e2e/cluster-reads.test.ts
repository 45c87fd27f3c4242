import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStorage, migrate, SHARDING_KEYS, serverSettings } from "@cognive/collector";
import { Session } from "chdb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTE_PERMISSIONS } from "../../src/api/permissions.ts";
import { agentRunBody } from "../helpers/agent-run.ts";
import { type ChdbHttp, startChdbHttp } from "../helpers/chdb-http.ts";
import { postRaw } from "../helpers/http.ts";
import { grpcReadRequests, readRequests, requestInit } from "../helpers/read-routes.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { streamingClient } from "../helpers/tempo-grpc.ts";

/**
 * Every statement the read routes send, checked against a two-shard cluster's Distributed tables.
 * A read whose IN or JOIN subquery reads a Distributed table as well is refused by ClickHouse unless
 * `distributed_product_mode` allows it; that refusal comes from the planner, before any shard is
 * asked. The engine here has a cluster `c2` of two shards that do not answer, so a statement the
 * planner accepts fails on the network instead: the routes' statements are recorded on a
 * single-node store (real answers), then each is run again against Distributed copies of the tables.
 * The Testcontainers test reads the answers on real shards where Docker runs.
 */
const CLUSTER = "c2";
const DB = "cognive";
const FRONT_DB = "cluster_front";
const DENIED = /DISTRIBUTED_IN_JOIN_SUBQUERY_DENIED/;
/** What a statement the planner took meets: no shard answers. */
const NETWORK = /ALL_CONNECTION_TRIES_FAILED|NETWORK_ERROR|Connection refused/;

const dir = mkdtempSync(join(tmpdir(), "cognive-cluster-reads-"));
let front: ChdbHttp;
let server: TestServer;
let engine: Session;
/** `cognive.<table>` for every table of the store. */
let tableRef: RegExp;
/** Statements the front had run before the server started (the migrations). */
let serverStart = 0;
const traceId = randomBytes(16).toString("hex");

/** Shards on loopback port 1: nothing listens there, so each is refused at once. */
const CONFIG = `<clickhouse>
  <remote_servers>
    <${CLUSTER}>
      <shard><replica><host>127.0.0.1</host><port>1</port></replica></shard>
      <shard><replica><host>127.0.0.1</host><port>1</port></replica></shard>
    </${CLUSTER}>
  </remote_servers>
</clickhouse>
`;

/** Whether a recorded request (SETs, USE, then one statement) was a read. */
function isRead(sql: string): boolean {
  const last = sql.split(";\n").at(-1) ?? "";
  return /^\s*(SELECT|WITH)\b/i.test(last);
}

/** Runs `sql` (a recorded request: SETs, then the statement) on the Distributed copies. */
async function onCluster(sql: string): Promise<{ ok: true } | { ok: false; error: string }> {
  // Table references only: attribute names such as 'cognive.team' stay as they are.
  const replayed = sql.replace(tableRef, `${FRONT_DB}.$1`).replace(`USE ${DB}`, `USE ${FRONT_DB}`);
  try {
    // Not the synchronous call: it would hold the loop the front and the server answer on.
    await engine.queryAsync(replayed, { format: "TSV" });
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

beforeAll(async () => {
  const config = join(dir, "cluster.xml");
  writeFileSync(config, CONFIG);
  const store = join(dir, "store");
  front = await startChdbHttp({ dataDir: store, connectionArgs: [`--config-file=${config}`] });
  engine = new Session(store);
  const single = createStorage({ clickhouseUrl: front.url, dataDir: dir, database: DB });
  await migrate(single);
  await single.close();
  // Distributed copies of every table, as a cluster's migrations make them (same sharding keys).
  const tables = engine
    .query(`SELECT name FROM system.tables WHERE database = '${DB}' AND engine LIKE '%MergeTree'`, "TSV")
    .trim()
    .split("\n");
  tableRef = new RegExp(`\\b${DB}\\.(${tables.join("|")})\\b`, "g");
  engine.query(`CREATE DATABASE ${FRONT_DB}`, "TSV");
  for (const t of tables)
    engine.query(
      `CREATE TABLE ${FRONT_DB}.${t} AS ${DB}.${t} ENGINE = Distributed(${CLUSTER}, '${DB}', '${t}', ${SHARDING_KEYS[t] ?? "rand()"})`,
      "TSV",
    );
  serverStart = front.statements.length;
  server = await startTestServer({ CLICKHOUSE_URL: front.url, COGNIVE_DATABASE: DB, COGNIVE_CLUSTER: CLUSTER }, dir);
  const run = agentRunBody({
    traceId,
    service: "svc-cluster",
    agent: "cluster-agent",
    model: "gpt-4o",
    conversationId: "conv-cluster",
    userId: "user-cluster",
  });
  const res = await postRaw(`${server.otlpUrl}/v1/traces`, run, { "content-type": "application/json" });
  expect(res.status).toBe(200);
}, 120_000);

afterAll(async () => {
  await server?.stop({ keepData: true });
  engine?.close();
  await front?.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

describe("reads on a cluster of two shards", () => {
  it("sends distributed_product_mode = 'global' with every request on a cluster, and nothing of it on one node", () => {
    expect(serverSettings(CLUSTER)).toMatchObject({ distributed_product_mode: "global" });
    expect(serverSettings()).not.toHaveProperty("distributed_product_mode");
  });

  it("has no read route whose statements the cluster's planner refuses", async () => {
    const examples = readRequests({ traceId, sessionId: "conv-cluster", userId: "user-cluster" });
    const reads = Object.entries(ROUTE_PERMISSIONS)
      .filter(([, p]) => p === "read")
      .map(([r]) => r);
    expect(reads.filter((r) => !(r in examples))).toEqual([]);

    // Which route each recorded statement served; the rest ran at start or in the background (keys, budgets).
    const windows: { from: number; to: number; route: string }[] = [];
    const during = async (route: string, call: () => Promise<void>) => {
      const from = front.statements.length;
      await call();
      windows.push({ from, to: front.statements.length, route });
    };
    for (const [route, ex] of Object.entries(examples)) {
      for (const path of ex.paths)
        await during(route, async () => {
          const init = requestInit(route, ex);
          const res = await fetch(`${server.queryUrl}${path}`, init);
          const text = await res.text();
          expect(res.status, `${route} ${path}: ${text.slice(0, 300)}`).toBe(200);
        });
    }
    const client = streamingClient(server.queryUrl);
    try {
      for (const [method, ex] of Object.entries(grpcReadRequests()))
        for (const request of ex.requests)
          await during(`gRPC ${method}`, async () => {
            const answer = await client.call(method, request, {});
            expect(answer.code, `${method}: ${answer.details}`).toBe(0);
          });
    } finally {
      client.close();
    }
    const recorded = front.statements.slice(serverStart).map((sql, i) => ({
      sql,
      route:
        windows.find((w) => i + serverStart >= w.from && i + serverStart < w.to)?.route ??
        "at start or in the background",
    }));

    const byTable = recorded.filter((r) => isRead(r.sql) && new RegExp(tableRef).test(r.sql));
    expect(byTable.length).toBeGreaterThan(30);
    const refused: string[] = [];
    let planned = 0;
    for (const { route, sql } of byTable) {
      const r = await onCluster(sql);
      if (r.ok) continue;
      if (DENIED.test(r.error)) refused.push(`${route}: ${sql.split(";\n").at(-1)?.slice(0, 200)}`);
      else {
        expect(r.error, `${route}: ${sql.slice(-400)}`).toMatch(NETWORK);
        planned++;
      }
    }
    expect(refused).toEqual([]);
    expect(planned).toBe(byTable.length);

    // Without the setting, ClickHouse's default refuses some of the same statements: the check is not vacuous.
    const deny: typeof byTable = [];
    for (const read of byTable) {
      const r = await onCluster(
        read.sql.replace("SET distributed_product_mode = 'global'", "SET distributed_product_mode = 'deny'"),
      );
      if (!r.ok && DENIED.test(r.error)) deny.push(read);
    }
    const denied = new Set(deny.map((d) => d.route));
    for (const route of ["GET /api/v1/traces", "GET /api/v1/overview", "GET /api/v1/sessions", "GET /api/search"])
      expect(denied, route).toContain(route);
  }, 120_000);
});
