import { Redis } from "ioredis";
import { Gauge, type Registry } from "prom-client";
import { type AlertBus, InProcessBus, NatsBus } from "../alerts/bus.ts";
import type { SmtpConfig } from "../alerts/email.ts";
import { Deliverer } from "../alerts/sinks.ts";
import { ChargebackSchedule, redisReportLease } from "../finops/schedule.ts";
import { destinationsOf } from "../finops/sinks.ts";
import type { Logger } from "../log.ts";
import { countedAtScrape } from "../metrics.ts";
import type { Policy } from "../policy.ts";
import { AlertStore } from "../storage/alerts.ts";
import type { Storage } from "../storage/client.ts";
import { type BudgetCounters, MemoryCounters } from "./counters.ts";
import { counterClientOptions } from "./counters-redis.ts";
import { ResilientCounters } from "./counters-resilient.ts";
import { Governance } from "./engine.ts";
import { BudgetReconciler, countersFromStorage } from "./reconcile.ts";
import { SpendWatch } from "./spend-watch.ts";

export interface GovernanceConfig {
  /** Shared counters for many collectors; in-process counters when absent. */
  redisUrl?: string;
  /** Alert fan-out over NATS; an in-process bus when absent. */
  natsUrl?: string;
  /** Seconds between budget reconciliations against storage (0: only at start). */
  reconcileSeconds?: number;
  /** Seconds between forecast and anomaly evaluations (0: never). */
  watchSeconds?: number;
  /** The SMTP server of email sinks. */
  smtp?: SmtpConfig;
}

/** Everything budgets, policies and alerts need in one process, wired together. */
export interface GovernanceRuntime {
  policy: Policy;
  counters: BudgetCounters;
  bus: AlertBus;
  store: AlertStore;
  governance: Governance;
  deliverer: Deliverer;
  reconciler: BudgetReconciler;
  watch: SpendWatch;
  /** Monthly chargeback delivery, when the policy declares it. */
  reports: ChargebackSchedule | null;
  close(): Promise<void>;
}

export async function startGovernance(deps: {
  storage: Storage;
  policy: Policy;
  config: GovernanceConfig;
  log: Logger;
  createCounters?: (log: Logger) => Promise<BudgetCounters>;
}): Promise<GovernanceRuntime> {
  const { storage, policy, config, log } = deps;
  const counters = deps.createCounters
    ? await deps.createCounters(log)
    : config.redisUrl
      ? await ResilientCounters.connect(config.redisUrl, { logger: log })
      : new MemoryCounters();
  // Counters start where storage says: today's and this month's spend, recent runs, thresholds
  // already alerted. In memory this rebuilds them; in Redis it only raises counters that fell behind.
  await counters.seed(await countersFromStorage(storage));
  const bus: AlertBus = config.natsUrl
    ? new NatsBus({ servers: config.natsUrl, log, name: "cognive" })
    : new InProcessBus(log);
  const store = new AlertStore(storage);
  // With many collectors on one NATS bus every deliverer hears every alert: a shared claim in Redis
  // lets exactly one of them deliver each alert to each sink.
  const claimClient = config.redisUrl
    ? new Redis(config.redisUrl, counterClientOptions(500, { lazyConnect: false }))
    : null;
  claimClient?.on("error", () => {}); // outages are handled per call (a failed claim delivers anyway)
  const deliverer = new Deliverer({
    sinks: destinationsOf(policy.alerts.sinks, config.smtp, "alerts.sinks"),
    bus,
    log,
    claim: claimClient
      ? async (alertId, sink) =>
          (await claimClient.set(`cognive:alert:claim:${alertId}:${sink}`, "1", "EX", 7 * 86_400, "NX")) === "OK"
      : undefined,
    onOutcome: (o) => {
      if (o.status === "failed") log.warn("alert delivery failed", { ...o });
      store.saveOutcome(o).catch((err) => log.error("storing an alert delivery outcome failed", { err }));
    },
  });
  const governance = new Governance(policy, counters, bus, store, log);
  const reconciler = new BudgetReconciler(storage, counters, log, () => governance.idle());
  reconciler.start(config.reconcileSeconds ?? 60);
  const watch = new SpendWatch(storage, policy, bus, store, log);
  watch.start(config.watchSeconds ?? 60);
  const chargeback = policy.reports?.chargeback;
  const reports = chargeback
    ? new ChargebackSchedule({
        storage,
        delivery: chargeback,
        destinations: (sinks) => destinationsOf(sinks, config.smtp, "reports.chargeback"),
        log,
        lease: claimClient ? redisReportLease(claimClient) : undefined,
      })
    : null;
  reports?.start();
  return {
    policy,
    counters,
    bus,
    store,
    governance,
    deliverer,
    reconciler,
    watch,
    reports,
    async close() {
      reconciler.stop();
      await watch.stop();
      await reports?.stop();
      await governance.idle();
      await deliverer.close();
      await bus.close();
      await counters.close();
      claimClient?.disconnect();
    },
  };
}

/** Governance figures on the collector's /metrics, read at scrape time; running counts are counters. */
export function registerGovernanceMetrics(registry: Registry, rt: GovernanceRuntime): void {
  const counter = (name: string, help: string, read: () => number) => countedAtScrape(registry, name, help, read);
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  counter(
    "cognive_alerts_raised_total",
    "Alerts raised (budget thresholds and policy violations)",
    () => rt.governance.stats.alertsRaised,
  );
  counter(
    "cognive_governance_failures_total",
    "Batches whose budget/policy processing failed",
    () => rt.governance.stats.failures,
  );
  gauge(
    "cognive_governance_pending_spans",
    "Durable spans waiting for budgets and policies (how far governance is behind ingest)",
    () => rt.governance.stats.pendingSpans,
  );
  counter(
    "cognive_spend_watch_failures_total",
    "Forecast and anomaly evaluations that failed",
    () => rt.watch.stats.failures,
  );
  gauge("cognive_alert_deliveries_pending", "Alerts waiting for delivery to sinks", () => rt.deliverer.pending);
  counter(
    "cognive_alert_deliveries_dropped_total",
    "Alerts dropped because the delivery queue was full",
    () => rt.deliverer.dropped,
  );
  counter(
    "cognive_budget_local_increments_total",
    "Budget increments counted locally because Redis was unreachable",
    () => (rt.counters instanceof ResilientCounters ? rt.counters.fallbacks : 0),
  );
  counter(
    "cognive_budget_drift_corrected_usd_total",
    "Spend budget counters had missed (Redis loss, crashes, timeouts) and reconciliation restored from storage",
    () => rt.reconciler.correctedUsd,
  );
  gauge("cognive_alert_bus_pending", "Alerts held while the NATS bus is disconnected", () =>
    rt.bus instanceof NatsBus ? rt.bus.pending : 0,
  );
}
