import type { Redis } from "ioredis";
import { type Logger, silentLogger } from "../log.ts";
import type { ChargebackDelivery } from "../policy.ts";
import type { Storage } from "../storage/client.ts";
import { REPORT_DELIVERIES_TABLE } from "../storage/schema.ts";
import { chTime, queryRows } from "../storage/sql.ts";
import { type ChargebackRowSql, chargebackSql, monthRange, previousMonth, toChargeback } from "./chargeback.ts";
import type { Destination, TeamReport } from "./sinks.ts";

const REPORT = "chargeback";

export interface ChargebackScheduleOptions {
  storage: Storage;
  delivery: ChargebackDelivery;
  /** The destinations of one sink list (built once per list). */
  destinations: (sinks: ChargebackDelivery["sinks"]) => Destination[];
  log?: Logger;
  now?: () => Date;
  /** Between checks; default one hour. */
  everyMs?: number;
  /** Attempts per destination and check; default 3. */
  attempts?: number;
  timeoutMs?: number;
  /**
   * Several collectors run the schedule: a shared lease (Redis) lets one of them send each
   * (month, team, sink); `release` frees it after a failed send so the next check retries.
   */
  lease?: { claim(key: string): Promise<boolean>; release(key: string): Promise<void> };
}

export type ReportLease = NonNullable<ChargebackScheduleOptions["lease"]>;

/** The lease in Redis; it outlives a check and its retries, after which storage says what was delivered. */
export function redisReportLease(redis: Redis, ttlSeconds = 6 * 3600): ReportLease {
  return {
    claim: async (key) => (await redis.set(`cognive:report:claim:${key}`, "1", "EX", ttlSeconds, "NX")) === "OK",
    release: async (key) => {
      await redis.del(`cognive:report:claim:${key}`);
    },
  };
}

export interface ScheduleRun {
  month: string;
  sent: number;
  failed: number;
  skipped: number;
}

/**
 * Sends each team's chargeback for the month just ended, from the 1st of the next month (UTC) on.
 * What was delivered is stored (migration 17) and checked before each send, so a team's report goes
 * to each of its sinks once per month, across restarts; a failed send is tried again at the next
 * check. A process that was down on the 1st sends when it starts.
 */
export class ChargebackSchedule {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ScheduleRun> | undefined;
  private readonly log: Logger;
  private readonly defaults: Destination[];
  private readonly perTeam: Map<string, Destination[]>;

  constructor(private readonly o: ChargebackScheduleOptions) {
    this.log = o.log ?? silentLogger;
    this.defaults = o.destinations(o.delivery.sinks);
    this.perTeam = new Map([...o.delivery.teams].map(([t, sinks]) => [t, o.destinations(sinks)]));
  }

  start(): void {
    const tick = () => {
      this.check().catch((err) => this.log.error("scheduled chargeback failed", { err }));
    };
    tick();
    this.timer = setInterval(tick, this.o.everyMs ?? 3_600_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One check (never two at once): sends what is due and not yet delivered. */
  check(): Promise<ScheduleRun> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(): Promise<ScheduleRun> {
    const month = previousMonth((this.o.now ?? (() => new Date()))());
    const out: ScheduleRun = { month, sent: 0, failed: 0, skipped: 0 };
    const range = monthRange(month);
    if (!range) return out;
    const db = this.o.storage.database;
    const rows = await queryRows<ChargebackRowSql>(this.o.storage, chargebackSql(db, "1", false), {
      fromNs: String(range.fromNs),
      toNs: String(range.toNs),
    });
    const delivered = new Set(
      (
        await queryRows<{ Team: string; Sink: string }>(
          this.o.storage,
          `SELECT Team, Sink FROM ${db}.${REPORT_DELIVERIES_TABLE} FINAL
           WHERE Report = {report:String} AND Month = {month:String} AND Status = 'delivered'`,
          { report: REPORT, month },
        )
      ).map((r) => `${r.Team}\u0000${r.Sink}`),
    );
    const byTeam = new Map<string, ChargebackRowSql[]>();
    for (const r of rows) byTeam.set(r.Team, [...(byTeam.get(r.Team) ?? []), r]);
    for (const [team, teamRows] of byTeam) {
      const report: TeamReport = { month, team, chargeback: toChargeback(month, teamRows) };
      for (const dest of this.perTeam.get(team) ?? this.defaults) {
        if (delivered.has(`${team}\u0000${dest.name}`)) {
          out.skipped++;
          continue;
        }
        const key = `${REPORT}:${month}:${team}:${dest.name}`;
        if (this.o.lease && !(await this.claim(key))) {
          out.skipped++;
          continue;
        }
        const { ok, attempts, error } = await this.deliver(dest, report);
        await this.record(month, team, dest.name, ok, attempts, error);
        if (!ok) await this.o.lease?.release(key).catch(() => undefined);
        if (ok) out.sent++;
        else out.failed++;
      }
    }
    if (out.sent + out.failed > 0) this.log.info("scheduled chargeback reports", { ...out });
    return out;
  }

  /** A lease that cannot be asked (Redis down) counts as granted: a rare duplicate beats a lost report. */
  private async claim(key: string): Promise<boolean> {
    try {
      return (await this.o.lease?.claim(key)) ?? true;
    } catch (err) {
      this.log.warn("report claim failed; sending anyway", { err, key });
      return true;
    }
  }

  private async deliver(dest: Destination, report: TeamReport) {
    const attempts = this.o.attempts ?? 3;
    let error = "";
    for (let n = 1; n <= attempts; n++) {
      try {
        await dest.sendReport(report, AbortSignal.timeout(this.o.timeoutMs ?? 30_000));
        return { ok: true, attempts: n, error: "" };
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
      }
    }
    this.log.warn("chargeback report delivery failed", { team: report.team, sink: dest.name, error });
    return { ok: false, attempts, error };
  }

  private async record(month: string, team: string, sink: string, ok: boolean, attempts: number, error: string) {
    await this.o.storage.client.insert({
      table: `${this.o.storage.database}.${REPORT_DELIVERIES_TABLE}`,
      format: "JSONEachRow",
      values: [
        {
          Report: REPORT,
          Month: month,
          Team: team,
          Sink: sink,
          Status: ok ? "delivered" : "failed",
          Attempts: attempts,
          LastError: error.slice(0, 1000),
          Time: chTime(new Date()),
        },
      ],
    });
  }
}
