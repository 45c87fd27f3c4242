import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClickHouseClient, createClient } from "@clickhouse/client";
import { migrations } from "@cognive/collector";
import {
  GenericContainer,
  getContainerRuntimeClient,
  Network,
  type StartedNetwork,
  type StartedTestContainer,
  Wait,
} from "testcontainers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentRunBody } from "../helpers/agent-run.ts";
import { postRaw } from "../helpers/http.ts";
import { modelCallBodies } from "../helpers/otlp-json.ts";
import { freePort, runCognive, spawnCognive, stopProcess } from "../helpers/process.ts";
import { readRequests, requestInit } from "../helpers/read-routes.ts";
import { getJson } from "../helpers/server.ts";
import { until } from "../helpers/until.ts";

/**
 * Cognive against real ClickHouse servers (clickhouse/clickhouse-server via Testcontainers): a single
 * node, and a two-shard cluster with ClickHouse Keeper. They run wherever a Docker engine answers
 * and skip otherwise; COGNIVE_REQUIRE_SERVICES=1 does not turn a missing Docker into a failure
 * (Docker is the one exemption: CI runners without it still run everything else). Where there is
 * no Docker, the multi-process topology test (topology.test.ts) covers the same paths on chDB.
 */
const IMAGE = process.env.COGNIVE_CLICKHOUSE_IMAGE ?? "clickhouse/clickhouse-server:25.8";
const KEEPER_IMAGE = process.env.COGNIVE_CLICKHOUSE_KEEPER_IMAGE ?? "clickhouse/clickhouse-keeper:25.8";
const USER = "cognive";
const PASSWORD = randomBytes(12).toString("hex");
const DB = "cognive";

async function noDocker(): Promise<string | null> {
  try {
    await getContainerRuntimeClient();
    return null;
  } catch (err) {
    const msg = `no Docker engine (${(err as Error).message}): skipping the ClickHouse server tests (Testcontainers); Docker is the one service COGNIVE_REQUIRE_SERVICES=1 does not require`;
    process.stderr.write(`${msg}\n`);
    return msg;
  }
}
const skip = await noDocker();

function clickhouse(opts: { network?: StartedNetwork; alias?: string; config?: string } = {}) {
  let c = new GenericContainer(IMAGE)
    .withEnvironment({
      CLICKHOUSE_USER: USER,
      CLICKHOUSE_PASSWORD: PASSWORD,
      CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT: "1",
    })
    .withUlimits({ nofile: { soft: 262144, hard: 262144 } })
    .withExposedPorts(8123)
    .withWaitStrategy(Wait.forHttp("/ping", 8123).forStatusCode(200))
    .withStartupTimeout(180_000);
  if (opts.network && opts.alias) c = c.withNetwork(opts.network).withNetworkAliases(opts.alias);
  if (opts.config)
    c = c.withCopyContentToContainer([{ content: opts.config, target: "/etc/clickhouse-server/config.d/cognive.xml" }]);
  return c.start();
}

const urlOf = (c: StartedTestContainer) => `http://${USER}:${PASSWORD}@${c.getHost()}:${c.getMappedPort(8123)}`;

async function rows<T>(client: ClickHouseClient, query: string, query_params?: Record<string, unknown>): Promise<T[]> {
  return (await client.query({ query, query_params, format: "JSONEachRow" })).json<T>();
}

/**
 * `cognive start` on the server: exports `traces` runs of two gpt-4o calls and reads each back
 * through the API with its exact cost. Returns the trace ids.
 */
async function ingestAndRead(env: Record<string, string>, dir: string, traces: number): Promise<string[]> {
  const ports = { COGNIVE_OTLP_PORT: String(await freePort()), COGNIVE_PORT: String(await freePort()) };
  const proc = await spawnCognive({ ...env, ...ports, COGNIVE_DATA_DIR: join(dir, "data") });
  try {
    const ids = Array.from({ length: traces }, () => randomBytes(16).toString("hex"));
    for (const traceId of ids) {
      const [body] = modelCallBodies({ traceId, agent: "triage-agent", requests: 1, perRequest: 2 });
      const r = await postRaw(`http://127.0.0.1:${ports.COGNIVE_OTLP_PORT}/v1/traces`, body, {
        "content-type": "application/json",
      });
      expect(r.status).toBe(200);
    }
    for (const traceId of ids) {
      const trace = await until(
        `trace ${traceId}`,
        async () => {
          const t = await getJson(`http://127.0.0.1:${ports.COGNIVE_PORT}/api/v1/traces/${traceId}`);
          return t.status === 200 ? t.body : undefined;
        },
        30_000,
      );
      expect(trace.spans).toHaveLength(2);
      expect(trace.summary.costUsd).toBeCloseTo(2 * 0.0035, 12);
    }
    return ids;
  } finally {
    await stopProcess(proc);
  }
}

describe.skipIf(skip)("ClickHouse server, single node (Testcontainers)", () => {
  // Made when the tests run: a skipped suite's body still runs to collect them.
  let dir = "";
  let node: StartedTestContainer;
  let client: ClickHouseClient;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cognive-ch-single-"));
    node = await clickhouse();
    client = createClient({ url: urlOf(node) });
    env = { CLICKHOUSE_URL: urlOf(node), COGNIVE_DATABASE: DB };
  }, 300_000);
  afterAll(async () => {
    await client?.close();
    await node?.stop();
    if (dir !== "") rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });

  it("migrates once (a second run applies nothing), with the retention TTL on the tables", async () => {
    const first = await runCognive(["migrate"], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout + first.stderr).toContain(`migrations applied: ${migrations.length}`);
    const second = await runCognive(["migrate"], env);
    expect(second.stdout + second.stderr).toContain("migrations applied: 0");
    const [create] = await rows<{ statement: string }>(client, `SHOW CREATE TABLE ${DB}.otel_traces`);
    expect(create.statement).toMatch(/TTL .*toIntervalDay\(\d+\)/);
  }, 120_000);

  it("ingests through the collector and reads through the API", async () => {
    const ids = await ingestAndRead(env, dir, 5);
    const [n] = await rows<{ n: string }>(
      client,
      `SELECT count() AS n FROM ${DB}.otel_traces WHERE TraceId IN {ids:Array(String)}`,
      { ids },
    );
    expect(n.n).toBe("10");
  }, 180_000);
});

/** Keeper with one member; both servers use it for replication and ON CLUSTER DDL. */
const KEEPER_CONFIG = `<clickhouse>
  <listen_host>0.0.0.0</listen_host>
  <logger><level>warning</level><console>1</console></logger>
  <keeper_server>
    <tcp_port>9181</tcp_port>
    <server_id>1</server_id>
    <log_storage_path>/var/lib/clickhouse-keeper/coordination/log</log_storage_path>
    <snapshot_storage_path>/var/lib/clickhouse-keeper/coordination/snapshots</snapshot_storage_path>
    <coordination_settings><operation_timeout_ms>10000</operation_timeout_ms><session_timeout_ms>30000</session_timeout_ms></coordination_settings>
    <raft_configuration><server><id>1</id><hostname>keeper</hostname><port>9234</port></server></raft_configuration>
  </keeper_server>
</clickhouse>
`;

/** Cluster c1: two shards of one replica each; `shard` and `replica` macros per node. */
const nodeConfig = (shard: string, replica: string) => `<clickhouse>
  <remote_servers>
    <c1>
      <shard><internal_replication>true</internal_replication>
        <replica><host>ch1</host><port>9000</port><user>${USER}</user><password>${PASSWORD}</password></replica>
      </shard>
      <shard><internal_replication>true</internal_replication>
        <replica><host>ch2</host><port>9000</port><user>${USER}</user><password>${PASSWORD}</password></replica>
      </shard>
    </c1>
  </remote_servers>
  <zookeeper><node><host>keeper</host><port>9181</port></node></zookeeper>
  <macros><shard>${shard}</shard><replica>${replica}</replica></macros>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
</clickhouse>
`;

describe.skipIf(skip)("ClickHouse cluster: two shards with Keeper (Testcontainers)", () => {
  // Made when the tests run: a skipped suite's body still runs to collect them.
  let dir = "";
  let network: StartedNetwork;
  let keeper: StartedTestContainer;
  const nodes: StartedTestContainer[] = [];
  const clients: ClickHouseClient[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cognive-ch-cluster-"));
    network = await new Network().start();
    keeper = await new GenericContainer(KEEPER_IMAGE)
      .withNetwork(network)
      .withNetworkAliases("keeper")
      .withCopyContentToContainer([{ content: KEEPER_CONFIG, target: "/etc/clickhouse-keeper/keeper_config.xml" }])
      .withExposedPorts(9181)
      .withWaitStrategy(Wait.forListeningPorts())
      .start();
    nodes.push(
      ...(await Promise.all([
        clickhouse({ network, alias: "ch1", config: nodeConfig("01", "ch1") }),
        clickhouse({ network, alias: "ch2", config: nodeConfig("02", "ch2") }),
      ])),
    );
    clients.push(...nodes.map((n) => createClient({ url: urlOf(n) })));
    env = { CLICKHOUSE_URL: urlOf(nodes[0]), COGNIVE_DATABASE: DB, COGNIVE_CLUSTER: "c1" };
  }, 600_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(nodes.map((n) => n.stop()));
    await keeper?.stop();
    await network?.stop();
    if (dir !== "") rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });

  it("cognive migrate with COGNIVE_CLUSTER creates replicated local tables and Distributed tables on every node", async () => {
    const run = await runCognive(["migrate"], env);
    expect(run.code, run.stderr).toBe(0);
    for (const c of clients) {
      const tables = await rows<{ name: string; engine: string }>(
        c,
        "SELECT name, engine FROM system.tables WHERE database = {db:String} AND name IN ('otel_traces', 'otel_traces_local')",
        { db: DB },
      );
      expect(Object.fromEntries(tables.map((t) => [t.name, t.engine]))).toEqual({
        otel_traces: "Distributed",
        otel_traces_local: "ReplicatedMergeTree",
      });
    }
  }, 180_000);

  it("writes through the Distributed tables: each run lands whole on one shard, all are read back", async () => {
    const ids = await ingestAndRead(env, dir, 24);
    // Acknowledged means on the shards (distributed_foreground_insert): counted at once, no waiting.
    const perShard = await Promise.all(
      clients.map(async (c) => {
        const r = await rows<{ traces: string; split: string }>(
          c,
          `SELECT count() AS traces, countIf(n != 2) AS split FROM (
             SELECT TraceId, count() AS n FROM ${DB}.otel_traces_local WHERE TraceId IN {ids:Array(String)} GROUP BY TraceId)`,
          { ids },
        );
        return r[0];
      }),
    );
    expect(perShard.reduce((a, s) => a + Number(s.traces), 0)).toBe(24);
    for (const s of perShard) {
      expect(Number(s.traces)).toBeGreaterThan(0); // 24 traces all on one shard: one chance in 8 million
      expect(s.split).toBe("0");
    }
  }, 300_000);

  it("answers every read route on the shards; the trace list and a search see each trace once", async () => {
    const ports = { COGNIVE_OTLP_PORT: String(await freePort()), COGNIVE_PORT: String(await freePort()) };
    const proc = await spawnCognive({ ...env, ...ports, COGNIVE_DATA_DIR: join(dir, "data") });
    const api = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${ports.COGNIVE_PORT}${path}`, init);
    try {
      const agent = "cluster-read-agent";
      const ids = Array.from({ length: 8 }, () => randomBytes(16).toString("hex"));
      for (const traceId of ids) {
        const body = agentRunBody({
          traceId,
          service: "svc-cluster",
          agent,
          model: "gpt-4o",
          conversationId: "conv-cluster",
          userId: "user-cluster",
        });
        const r = await postRaw(`http://127.0.0.1:${ports.COGNIVE_OTLP_PORT}/v1/traces`, body, {
          "content-type": "application/json",
        });
        expect(r.status).toBe(200);
      }
      const from = Math.floor(Date.now() / 1000) - 3600;
      const list = await (await api(`/api/v1/traces?from=${from}&agent=${agent}&limit=100`)).json();
      expect(list.traces.map((t: { traceId: string }) => t.traceId).sort()).toEqual([...ids].sort());
      const q = encodeURIComponent(`{ span.gen_ai.agent.name = "${agent}" }`);
      const found = await (await api(`/api/search?q=${q}&start=${from}&end=${from + 7200}&limit=50`)).json();
      expect(found.traces.map((t: { traceID: string }) => t.traceID).sort()).toEqual([...ids].sort());
      // Every other read route answers on the cluster (ClickHouse refuses a Distributed subquery by default).
      for (const [route, ex] of Object.entries(
        readRequests({ traceId: ids[0], sessionId: "conv-cluster", userId: "user-cluster" }),
      )) {
        for (const path of ex.paths) {
          const init = requestInit(route, ex);
          const res = await api(path, init);
          expect(res.status, `${route} ${path}: ${(await res.text()).slice(0, 300)}`).toBe(200);
        }
      }
    } finally {
      await stopProcess(proc);
    }
  }, 300_000);
});
