import {
  applyRetention,
  applyTableSettings,
  ConfigError,
  createLogger,
  createStorage,
  loadEnvConfig,
  migrate,
  migrationPlan,
  renderPlan,
  retentionDays,
  storageConfig,
} from "@cognive/collector";
import { ADMIN_USAGE, auditCommand, keysCommand } from "./admin-cli.ts";
import { type Role, startCognive } from "./server.ts";

const USAGE = `Usage: cognive <command>

Commands:
  start       collector + query API in one process (embedded storage unless CLICKHOUSE_URL is set)
  collector   only the OTLP collector (needs CLICKHOUSE_URL)
  query       only the query API (needs CLICKHOUSE_URL)
  migrate     apply storage migrations and exit
                --dry-run        print every statement of every migration (numbered by version); touches no storage
                --cluster NAME   the ClickHouse cluster variant: ON CLUSTER NAME, Replicated tables, Distributed tables
                                 (default: COGNIVE_CLUSTER)
${ADMIN_USAGE}
  help        this text

Configuration comes from environment variables; see the README.`;

function migrateArgs(args: string[]): { dryRun: boolean; cluster?: string } {
  const out: { dryRun: boolean; cluster?: string } = { dryRun: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--dry-run") out.dryRun = true;
    else if (a === "--cluster" && args[i + 1] !== undefined) out.cluster = args[++i];
    else if (a.startsWith("--cluster=")) out.cluster = a.slice("--cluster=".length);
    else throw new ConfigError(`migrate: unknown or incomplete argument "${a}" (expected --dry-run, --cluster NAME)`);
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0] ?? "start";
  if (cmd === "help" || cmd === "--help" || cmd === "-h") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadEnvConfig();
  const log = createLogger(config.COGNIVE_LOG_LEVEL);
  const io = { out: (t: string) => process.stdout.write(t), err: (t: string) => process.stderr.write(t) };
  if (cmd === "keys") return keysCommand(argv.slice(1), config, io);
  if (cmd === "audit") return auditCommand(argv.slice(1), config, io);
  if (cmd === "migrate") {
    const opts = migrateArgs(argv.slice(1));
    // --cluster names the cluster for this run; COGNIVE_CLUSTER for every command.
    const cluster = opts.cluster ?? config.COGNIVE_CLUSTER;
    if (opts.dryRun) {
      process.stdout.write(renderPlan(migrationPlan(cluster), config.COGNIVE_DATABASE));
      return 0;
    }
    if (cluster !== undefined && !config.CLICKHOUSE_URL)
      throw new ConfigError("migrate --cluster needs CLICKHOUSE_URL (embedded storage is a single node)");
    const storage = createStorage({ ...storageConfig(config), cluster }, log);
    const n = await migrate(storage, log, undefined, { cluster });
    await applyRetention(storage, retentionDays(config), log, cluster);
    await applyTableSettings(storage, log, cluster);
    log.info(`migrations applied: ${n}`);
    await storage.close();
    return 0;
  }
  const roles: Record<string, Role> = { start: "all", collector: "collector", query: "query" };
  const role = roles[cmd];
  if (!role) {
    process.stderr.write(`unknown command "${cmd}"\n\n${USAGE}\n`);
    return 2;
  }
  const running = await startCognive(config, log, role);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down: flushing queued spans", { signal });
    await running.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    const msg = err instanceof ConfigError ? err.message : ((err as Error).stack ?? String(err));
    process.stderr.write(`cognive: ${msg}\n`);
    process.exit(1);
  },
);
