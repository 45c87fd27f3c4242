import type { Alert } from "../alerts/alert.ts";
import type { DeliveryOutcome } from "../alerts/sinks.ts";
import type { Storage } from "./client.ts";
import { ALERT_DELIVERIES_TABLE, ALERTS_TABLE } from "./schema.ts";
import { chTime } from "./sql.ts";

/** Alerts are stored as raised; optional fields are kept empty or zero. */
export type StoredAlert = Alert;

/** Writes alerts and delivery outcomes; the same alert stored by several collectors collapses to one. */
export class AlertStore {
  constructor(private readonly storage: Storage) {}

  async save(alerts: StoredAlert[]): Promise<void> {
    if (alerts.length === 0) return;
    await this.storage.client.insert({
      table: `${this.storage.database}.${ALERTS_TABLE}`,
      format: "JSONEachRow",
      values: alerts.map((a) => ({
        Id: a.id,
        Kind: a.kind,
        Time: chTime(a.time),
        Agent: a.agent,
        Team: a.team,
        TraceId: a.traceId ?? "",
        Model: a.model ?? "",
        Tool: a.tool ?? "",
        ScopeType: a.scope?.type ?? "",
        ScopeName: a.scope?.name ?? "",
        Window: a.scope?.window ?? "",
        Threshold: a.threshold ?? 0,
        SpendUsd: a.spendUsd ?? 0,
        LimitUsd: a.limitUsd ?? 0,
        ProjectedUsd: a.projectedUsd ?? 0,
        ExceedsOn: a.exceedsOn ?? "",
        BaselineUsd: a.baselineUsd ?? 0,
        WindowMinutes: a.windowMinutes ?? 0,
      })),
    });
  }

  async saveOutcome(o: DeliveryOutcome): Promise<void> {
    await this.storage.client.insert({
      table: `${this.storage.database}.${ALERT_DELIVERIES_TABLE}`,
      format: "JSONEachRow",
      values: [
        { AlertId: o.alertId, Sink: o.sink, Status: o.status, Attempts: o.attempts, LastError: o.lastError ?? "" },
      ],
    });
  }
}
