import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Server as HttpServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";
import {
  type AuthRuntime,
  answersWithin,
  applyRetention,
  applyTableSettings,
  type Collector,
  ConfigError,
  createCollector,
  createOtlpGrpcServer,
  createStorage,
  type EnvConfig,
  type GovernanceRuntime,
  type GovernanceView,
  type GrpcTls,
  type Logger,
  listenGrpc,
  loadPolicy,
  migrate,
  NatsBus,
  openBudgetReader,
  type Policy,
  processRegistry,
  registerAuthMetrics,
  repairAtStart,
  retentionDays,
  type Storage,
  shutdownGrpc,
  smtpConfigFromEnv,
  startAuth,
  startGovernance,
  storageConfig,
  unstoredSpans,
  WriteAheadLog,
} from "@cognive/collector";
import * as grpc from "@grpc/grpc-js";
import { type ServerType, serve } from "@hono/node-server";
import type { Hono } from "hono";
import { createQueryApp } from "./app.ts";
import { shareWithH2 } from "./shared-port.ts";
import { createStreamingServer } from "./tempo/streaming.ts";
import { warmUi } from "./ui.ts";

export interface Running {
  storage: Storage;
  /** Counting, alerting and delivery: collector processes (and `start`) only. */
  governance?: GovernanceRuntime;
  collector?: Collector;
  otlpPort?: number;
  grpcPort?: number;
  queryPort?: number;
  stop(): Promise<void>;
}

export type Role = "all" | "collector" | "query";

/** The OTLP/gRPC certificate and key named by the environment; an unreadable file is a config error. */
function grpcTls(config: EnvConfig): GrpcTls | undefined {
  const read = (name: "COGNIVE_GRPC_TLS_CERT" | "COGNIVE_GRPC_TLS_KEY") => {
    const path = config[name] as string;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(`cannot read ${name}=${JSON.stringify(path)}: ${(err as Error).message}`);
    }
  };
  if (!config.COGNIVE_GRPC_TLS_CERT) return undefined;
  return { cert: read("COGNIVE_GRPC_TLS_CERT"), key: read("COGNIVE_GRPC_TLS_KEY") };
}

/**
 * How long an idle keep-alive connection stays open. Node's 5 s default sits one second above the
 * client side of Node's fetch (4 s): a request sent on a pooled connection as the server closes it
 * fails with ECONNRESET, which happened under load. Exporters keep idle connections far longer (Go's
 * 90 s), so connections are kept over a minute, as load balancers advise.
 */
const KEEP_ALIVE_MS = 65_000;

function listen(app: Hono<any>, host: string, port: number): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(server));
    const http = server as HttpServer;
    trackConnections(http);
    http.keepAliveTimeout = KEEP_ALIVE_MS;
    // Must outlast the keep-alive, or a connection idle in between is cut while sending its headers.
    http.headersTimeout = KEEP_ALIVE_MS + 1_000;
    server.once("error", reject);
  });
}

type Closable = ServerType & { closeAllConnections?: () => void; closeIdleConnections?: () => void };

/**
 * Per server, its open sockets and how many responses each still owes. A socket owing none may be
 * closed at a stop even when Node does not count it idle: an export answered (413, 401…) before its
 * whole body arrived stays mid-request until the keep-alive timeout.
 */
const connections = new WeakMap<ServerType, Map<Socket, number>>();

function trackConnections(server: HttpServer): void {
  const owed = new Map<Socket, number>();
  connections.set(server, owed);
  server.on("connection", (socket: Socket) => {
    owed.set(socket, 0);
    socket.once("close", () => owed.delete(socket));
  });
  server.on("request", (req, res) => {
    const socket = req.socket;
    owed.set(socket, (owed.get(socket) ?? 0) + 1);
    res.once("close", () => {
      if (owed.has(socket)) owed.set(socket, Math.max(0, (owed.get(socket) ?? 1) - 1));
    });
  });
}

/**
 * Stops accepting connections and lets requests in flight finish (their answers are sent), for at
 * most `graceMs`; then drops what is left. A connection is closed as soon as it owes no answer.
 */
function closeServer(server: ServerType | undefined, graceMs = 0): Promise<void> {
  return new Promise((resolve) => {
    if (!server) return resolve();
    const s = server as Closable;
    const owed = connections.get(server);
    const closeAnswered = () => {
      s.closeIdleConnections?.();
      for (const [socket, n] of owed ?? []) if (n === 0) socket.destroy();
    };
    const force = setTimeout(() => s.closeAllConnections?.(), graceMs);
    const sweep = setInterval(closeAnswered, 50);
    server.close(() => {
      clearTimeout(force);
      clearInterval(sweep);
      resolve();
    });
    if (graceMs === 0) s.closeAllConnections?.();
    else closeAnswered();
  });
}

/** The process's configuration and policy as it starts, in the audit log (secrets excluded). */
async function auditStart(auth: AuthRuntime, config: EnvConfig, role: Role): Promise<void> {
  const actor = { id: "", name: "cognive" };
  await auth.audit.append({
    actor,
    source: "local",
    action: "config.start",
    target: role,
    details: {
      auth: auth.mode,
      host: config.COGNIVE_HOST,
      otlpPort: config.COGNIVE_OTLP_PORT,
      grpcPort: config.COGNIVE_GRPC_PORT,
      port: config.COGNIVE_PORT,
      storage: config.CLICKHOUSE_URL ? "server" : "embedded",
      redis: Boolean(config.REDIS_URL),
      nats: Boolean(config.NATS_URL),
      adminKeyFromEnvironment: Boolean(config.COGNIVE_ADMIN_KEY),
      corsOrigins: config.COGNIVE_CORS_ORIGINS,
    },
  });
  const file = config.COGNIVE_POLICY;
  await auth.audit.append({
    actor,
    source: "local",
    action: "policy.load",
    target: file ?? "(none)",
    details: file ? { sha256: createHash("sha256").update(readFileSync(file)).digest("hex") } : {},
  });
}

/**
 * The registry the query port serves: in one process with the collector, the collector's (the same
 * figures on either port); alone, its own process metrics and rate-limit counts.
 */
function queryMetrics(collector: Collector | undefined, auth: AuthRuntime) {
  if (collector) return collector.metrics.registry;
  const registry = processRegistry();
  registerAuthMetrics(registry, auth.limited);
  return registry;
}

/**
 * Governance as a separate query process sees it: budgets from the collectors' Redis counters or,
 * without Redis, from storage at each read; alerts heard on the collectors' NATS bus.
 */
export async function queryGovernance(
  storage: Storage,
  policy: Policy,
  config: EnvConfig,
  log: Logger,
): Promise<GovernanceView & { close(): Promise<void> }> {
  const budgets = await openBudgetReader({ storage, redisUrl: config.REDIS_URL, log });
  const bus = config.NATS_URL ? new NatsBus({ servers: config.NATS_URL, log, name: "cognive-query" }) : null;
  if (!bus) log.warn("no NATS_URL: the alert stream of this query process stays empty (GET /api/v1/alerts lists them)");
  return {
    policy,
    budgets: budgets.reader,
    alerts: { subscribe: (handler) => bus?.subscribe(handler) ?? (() => {}) },
    async close() {
      await bus?.close();
      await budgets.close();
    },
  };
}

/** Whether the policy declares any budget (agent or team, any window). */
function hasBudgets(policy: Policy): boolean {
  const any = (b: Record<string, number | null>) => Object.values(b).some((v) => v !== null);
  return [...policy.agents.values(), ...policy.teams.values()].some((p) => any({ ...p.budgets }));
}

/**
 * A separate collector counts budgets in memory without Redis, so two of them would each see only
 * their own spans and let an agent spend up to twice its budget: refused rather than wrong.
 */
function requireSharedCounters(policy: Policy, config: EnvConfig, role: Role): void {
  if (role !== "collector" || config.REDIS_URL || !hasBudgets(policy)) return;
  throw new ConfigError(
    "the policy declares budgets and 'collector' may run as one of many: set REDIS_URL so collectors share budget counters (or run a single 'start' process)",
  );
}

/** Starts the collector, the query API, or both in one process, on the configured storage. */
export async function startCognive(config: EnvConfig, log: Logger, role: Role = "all"): Promise<Running> {
  if (role !== "all" && !config.CLICKHOUSE_URL) {
    throw new Error(
      `'${role}' runs as a separate process and needs CLICKHOUSE_URL (embedded storage belongs to one process: use 'start')`,
    );
  }
  const policy = loadPolicy(config.COGNIVE_POLICY);
  requireSharedCounters(policy, config, role);
  const tls = role !== "query" ? grpcTls(config) : undefined;
  const storage = createStorage(storageConfig(config), log);
  if (storage.kind === "chdb") {
    await migrate(storage, log);
    await applyRetention(storage, retentionDays(config), log);
    await applyTableSettings(storage, log);
    // Before budgets are rebuilt from the rollups: a crash mid-insert may have left them short.
    await repairAtStart(storage, log, config.COGNIVE_RETRY_WINDOW_MINUTES);
  }
  // Rows acknowledged into the log before a stop are loaded before budgets are rebuilt from storage.
  const wal =
    role !== "query" && config.COGNIVE_INGEST_ACK === "wal"
      ? await WriteAheadLog.open(
          storage,
          {
            dir: config.COGNIVE_WAL_DIR ?? join(config.COGNIVE_DATA_DIR, "wal"),
            loadMs: config.COGNIVE_WAL_LOAD_MS,
            loadBytes: config.COGNIVE_WAL_LOAD_BYTES,
            maxBytes: config.COGNIVE_WAL_MAX_BYTES,
          },
          log,
          { unstored: (table, body) => unstoredSpans(storage, log, table, body) },
        )
      : undefined;
  const auth = await startAuth({ storage, config, log });
  await auditStart(auth, config, role);
  // A query process counts nothing and delivers nothing: it reads budgets and listens for alerts.
  const governance =
    role === "query"
      ? undefined
      : await startGovernance({
          storage,
          policy,
          config: {
            redisUrl: config.REDIS_URL,
            natsUrl: config.NATS_URL,
            reconcileSeconds: config.COGNIVE_BUDGET_RECONCILE_SECONDS,
            watchSeconds: config.COGNIVE_SPEND_WATCH_SECONDS,
            smtp: smtpConfigFromEnv(config),
          },
          log,
        });
  // What the query API reads: this process's own counters and bus, or read-only ones.
  const view: GovernanceView & { close(): Promise<void> } = governance
    ? { policy, budgets: governance.counters, alerts: governance.bus, close: () => governance.close() }
    : await queryGovernance(storage, policy, config, log);
  let collector: Collector | undefined;
  let otlpServer: ServerType | undefined;
  let grpcServer: ReturnType<typeof createOtlpGrpcServer> | undefined;
  let queryServer: ServerType | undefined;
  let streamingServer: grpc.Server | undefined;
  const running: Running = {
    storage,
    governance,
    /**
     * Graceful stop: no new exports; exports in flight are answered once their spans are written;
     * governance gets what is left of the shutdown timeout to count them (budgets are rebuilt from
     * storage at the next start if it runs out). The query port answers probes until the end.
     */
    async stop() {
      const deadline = Date.now() + config.COGNIVE_SHUTDOWN_TIMEOUT_SECONDS * 1000;
      const left = () => Math.max(0, deadline - Date.now());
      const closingOtlp = closeServer(otlpServer, left());
      const closingGrpc = shutdownGrpc(grpcServer, left());
      await collector?.close();
      await wal?.close();
      await closingOtlp;
      await closingGrpc;
      if (governance && !(await answersWithin(governance.governance.idle(), left()))) {
        log.warn("shutdown: governance work left unfinished; budgets are rebuilt from storage", {
          timeoutSeconds: config.COGNIVE_SHUTDOWN_TIMEOUT_SECONDS,
        });
      }
      await answersWithin(view.close(), Math.max(1000, left()));
      streamingServer?.forceShutdown();
      await closeServer(queryServer);
      await auth.close();
      await storage.close();
    },
  };
  try {
    if (governance) {
      collector = createCollector({ storage, config, policy, log, governance, auth, wal });
      await collector.pipeline.recoverAtStart();
      otlpServer = await listen(collector.app, config.COGNIVE_HOST, config.COGNIVE_OTLP_PORT);
      running.collector = collector;
      running.otlpPort = (otlpServer.address() as AddressInfo).port;
      log.info("OTLP/HTTP receiver listening", { url: `http://${config.COGNIVE_HOST}:${running.otlpPort}/v1/traces` });
      grpcServer = createOtlpGrpcServer({
        signals: collector.signals,
        metrics: collector.metrics,
        log,
        config: { maxBodyBytes: config.COGNIVE_MAX_BODY_BYTES, retryAfterSeconds: 2 },
        auth,
      });
      running.grpcPort = await listenGrpc(grpcServer, config.COGNIVE_HOST, config.COGNIVE_GRPC_PORT, tls);
      log.info("OTLP/gRPC receiver listening", {
        address: `${config.COGNIVE_HOST}:${running.grpcPort}`,
        tls: tls !== undefined,
      });
    }
    if (role !== "collector") {
      const app = createQueryApp({
        storage,
        log,
        governance: view,
        auth,
        metrics: queryMetrics(collector, auth),
        corsOrigins: config.COGNIVE_CORS_ORIGINS.split(",")
          .map((o) => o.trim())
          .filter((o) => o !== ""),
      });
      queryServer = await listen(app, config.COGNIVE_HOST, config.COGNIVE_PORT);
      running.queryPort = (queryServer.address() as AddressInfo).port;
      // Tempo's streaming gRPC API on the same port, as Grafana dials it.
      streamingServer = createStreamingServer({ fetch: app.fetch, log });
      const injector = streamingServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
      shareWithH2(queryServer as HttpServer, (socket) => injector.injectConnection(socket));
      log.info("query API listening", { url: `http://${config.COGNIVE_HOST}:${running.queryPort}/api/v1` });
      // Built now rather than on the first page load; a failure is logged and retried per request.
      void warmUi(log).then(
        (ok) => ok && log.info("UI ready", { url: `http://${config.COGNIVE_HOST}:${running.queryPort}/` }),
      );
    }
  } catch (err) {
    await running.stop();
    throw err;
  }
  return running;
}
