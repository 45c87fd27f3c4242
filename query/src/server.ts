import type { AddressInfo } from "node:net";
import {
  type Collector,
  createCollector,
  createStorage,
  type EnvConfig,
  type GovernanceRuntime,
  type Logger,
  loadPolicy,
  migrate,
  type Storage,
  startGovernance,
} from "@cognive/collector";
import { type ServerType, serve } from "@hono/node-server";
import type { Hono } from "hono";
import { createQueryApp } from "./app.ts";
import { warmUi } from "./ui.ts";

export interface Running {
  storage: Storage;
  governance: GovernanceRuntime;
  collector?: Collector;
  otlpPort?: number;
  queryPort?: number;
  stop(): Promise<void>;
}

export type Role = "all" | "collector" | "query";

function listen(app: Hono<any>, host: string, port: number): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(server));
    server.once("error", reject);
  });
}

function closeServer(server: ServerType | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!server) return resolve();
    server.close(() => resolve());
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}

/** Starts the collector, the query API, or both in one process, on the configured storage. */
export async function startCognive(config: EnvConfig, log: Logger, role: Role = "all"): Promise<Running> {
  if (role !== "all" && !config.CLICKHOUSE_URL) {
    throw new Error(
      `'${role}' runs as a separate process and needs CLICKHOUSE_URL (embedded storage belongs to one process: use 'start')`,
    );
  }
  const policy = loadPolicy(config.COGNIVE_POLICY);
  const storage = createStorage(
    { clickhouseUrl: config.CLICKHOUSE_URL, dataDir: config.COGNIVE_DATA_DIR, database: config.COGNIVE_DATABASE },
    log,
  );
  if (storage.kind === "chdb") await migrate(storage, log);
  const governance = await startGovernance({
    storage,
    policy,
    config: { redisUrl: config.REDIS_URL, natsUrl: config.NATS_URL },
    log,
  });
  let collector: Collector | undefined;
  let otlpServer: ServerType | undefined;
  let queryServer: ServerType | undefined;
  const running: Running = {
    storage,
    governance,
    async stop() {
      await closeServer(otlpServer);
      await collector?.close();
      await governance.close();
      await closeServer(queryServer);
      await storage.close();
    },
  };
  try {
    if (role !== "query") {
      collector = createCollector({ storage, config, policy, log, governance });
      otlpServer = await listen(collector.app, config.COGNIVE_HOST, config.COGNIVE_OTLP_PORT);
      running.collector = collector;
      running.otlpPort = (otlpServer.address() as AddressInfo).port;
      log.info("OTLP/HTTP receiver listening", { url: `http://${config.COGNIVE_HOST}:${running.otlpPort}/v1/traces` });
    }
    if (role !== "collector") {
      const app = createQueryApp({ storage, log, governance });
      queryServer = await listen(app, config.COGNIVE_HOST, config.COGNIVE_PORT);
      running.queryPort = (queryServer.address() as AddressInfo).port;
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
