import { createHmac } from "node:crypto";
import { type Logger, silentLogger } from "../log.ts";
import type { Alert } from "./alert.ts";
import type { AlertBus } from "./bus.ts";

export const SIGNATURE_HEADER = "X-Cognive-Signature";
export const ALERT_ID_HEADER = "X-Cognive-Alert-Id";

/** A destination for alerts. `send` resolves once the destination accepted the alert, else throws. */
export interface AlertSink {
  readonly name: string;
  send(alert: Alert, signal: AbortSignal): Promise<void>;
}

/** `sha256=<hex HMAC-SHA256 of body with secret>`, the value of `X-Cognive-Signature`. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
  ) {
    super(`HTTP ${status} from ${url}`);
    this.name = "HttpStatusError";
  }
}

/** POSTs a JSON body; throws HttpStatusError on a non-2xx answer. */
export async function postJson(url: string, body: string, headers: Record<string, string>, signal: AbortSignal) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body,
    signal,
  });
  // drain the body so the connection can be reused
  await res.arrayBuffer().catch(() => {});
  if (!res.ok) throw new HttpStatusError(res.status, url);
}

export interface WebhookSinkOptions {
  url: string;
  /** When set, each request carries `X-Cognive-Signature: sha256=<hex HMAC-SHA256 of the body>`. */
  secret?: string;
  name?: string;
}

/** Generic webhook: POSTs the alert as JSON, with `X-Cognive-Alert-Id` and an optional HMAC signature. */
export class WebhookSink implements AlertSink {
  readonly name: string;
  constructor(private readonly opts: WebhookSinkOptions) {
    this.name = opts.name ?? `webhook:${opts.url}`;
  }

  async send(alert: Alert, signal: AbortSignal): Promise<void> {
    const body = JSON.stringify(alert);
    const headers: Record<string, string> = { [ALERT_ID_HEADER]: alert.id };
    if (this.opts.secret) headers[SIGNATURE_HEADER] = signBody(body, this.opts.secret);
    await postJson(this.opts.url, body, headers, signal);
  }
}

const usd = (n: number | undefined) => (n === undefined ? "?" : `$${n.toFixed(2)}`);
const WINDOW_WORD = { run: "per-run", day: "daily", month: "monthly", rate: "" } as const;

/** One readable line per alert, in Slack mrkdwn. */
export function alertText(alert: Alert): string {
  const who = `${alert.agent} (team ${alert.team})`;
  const trace = alert.traceId ? ` (trace ${alert.traceId})` : "";
  switch (alert.kind) {
    case "budget.threshold": {
      const scope = alert.scope;
      const subject =
        scope?.type === "team" ? `team ${scope.name}` : scope ? `${scope.name} (team ${alert.team})` : who;
      const window = scope ? `${WINDOW_WORD[scope.window]} ` : "";
      const pct = alert.threshold ?? 0;
      const icon = pct >= 100 ? ":rotating_light:" : ":warning:";
      const runTrace = scope?.window === "run" ? trace : "";
      return `${icon} ${subject} reached ${pct} % of its ${window}budget: ${usd(alert.spendUsd)} of ${usd(alert.limitUsd)}${runTrace}`;
    }
    case "budget.forecast": {
      const scope = alert.scope;
      const subject = scope?.type === "team" ? `team ${scope.name}` : `${alert.agent} (team ${alert.team})`;
      const window = scope ? `${WINDOW_WORD[scope.window]} ` : "";
      return `:crystal_ball: ${subject} is projected to reach its ${window}budget of ${usd(alert.limitUsd)} on ${alert.exceedsOn ?? "?"}: ${usd(alert.spendUsd)} spent, ${usd(alert.projectedUsd)} projected`;
    }
    case "spend.anomaly": {
      const scope = alert.scope;
      const subject = scope?.type === "team" ? `team ${scope.name}` : `${alert.agent} (team ${alert.team})`;
      return `:chart_with_upwards_trend: ${subject} spent ${usd(alert.spendUsd)} in the last ${alert.windowMinutes ?? "?"} minutes, against a usual ${usd(alert.baselineUsd)} at this hour of the week`;
    }
    case "policy.model_not_allowed":
      return `:no_entry: ${who} used model ${alert.model ?? "?"}, which is not in its allowed models${trace}`;
    case "policy.tool_not_approved":
      return `:no_entry: ${who} called tool ${alert.tool ?? "?"}, which is not an approved tool${trace}`;
  }
}

/** Slack incoming-webhook body: `{ text, blocks }` (text is the notification fallback). */
export function slackPayload(alert: Alert): { text: string; blocks: unknown[] } {
  const text = alertText(alert);
  return {
    text,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text } },
      {
        type: "context",
        elements: [{ type: "mrkdwn", text: `${alert.kind} · ${alert.time} · alert ${alert.id.slice(0, 12)}` }],
      },
    ],
  };
}

export interface SlackSinkOptions {
  url: string;
  name?: string;
}

/** Slack-format webhook (also accepted by Mattermost, Rocket.Chat and similar). */
export class SlackSink implements AlertSink {
  readonly name: string;
  constructor(private readonly opts: SlackSinkOptions) {
    this.name = opts.name ?? `slack:${opts.url}`;
  }

  async send(alert: Alert, signal: AbortSignal): Promise<void> {
    await postJson(this.opts.url, JSON.stringify(slackPayload(alert)), { [ALERT_ID_HEADER]: alert.id }, signal);
  }
}

/** Claims delivery of an alert to a sink; true means "this caller delivers it". */
export type ClaimFn = (alertId: string, sinkName: string) => Promise<boolean>;

/** In-memory claim: remembers the last `capacity` (alert, sink) pairs. Share one across deliverers in a process. */
export function memoryClaim(capacity = 10_000): ClaimFn {
  const seen = new Set<string>();
  return async (alertId, sinkName) => {
    const key = `${alertId}\u0000${sinkName}`;
    if (seen.has(key)) return false;
    seen.add(key);
    if (seen.size > capacity) seen.delete(seen.values().next().value as string);
    return true;
  };
}

export interface DeliveryOutcome {
  alertId: string;
  sink: string;
  status: "delivered" | "failed";
  attempts: number;
  lastError?: string;
}

export interface DelivererOptions {
  sinks: AlertSink[];
  /** Subscribe to this bus; alerts can also be handed over with `enqueue`. */
  bus?: AlertBus;
  /** Attempts per sink, first included. Default 5. */
  attempts?: number;
  /** Delay before the 2nd attempt; doubles each time. Default 500 ms. */
  baseDelayMs?: number;
  /** Cap on one delay. Default 30 s. */
  maxDelayMs?: number;
  /** Timeout of one request. Default 10 s. */
  timeoutMs?: number;
  /** Alerts waiting for delivery; beyond this, new alerts are dropped and counted. Default 1,000. */
  queueCapacity?: number;
  /** Alerts delivered at the same time. Default 4. */
  concurrency?: number;
  /** De-duplication across deliverers (e.g. Redis `SET key 1 NX EX …`). Default: an in-memory bounded set. */
  claim?: ClaimFn;
  onOutcome?: (outcome: DeliveryOutcome) => void;
  sleep?: (ms: number) => Promise<void>;
  log?: Logger;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Delivers alerts to every sink with retries and exponential backoff (base, 2×base, 4×base … capped),
 * off the publisher's path: the bus handler only pushes onto a bounded queue drained by a few async
 * workers. Each (alert, sink) pair is claimed first; a pair already claimed (by this or another
 * deliverer sharing the claim) is skipped, so an alert published twice, or received by many
 * collectors, is delivered once. A claim that fails (e.g. Redis down) is treated as granted: a rare
 * duplicate is preferred to a lost alert. The claimant owns the retries; the outcome of each pair is
 * reported through `onOutcome`.
 */
export class Deliverer {
  private readonly queue: Alert[] = [];
  private active = 0;
  private droppedCount = 0;
  private closed = false;
  private readonly unsubscribe: (() => void) | null;
  private idleWaiters: (() => void)[] = [];
  private readonly o: Required<Omit<DelivererOptions, "bus" | "onOutcome">> & Pick<DelivererOptions, "onOutcome">;

  constructor(opts: DelivererOptions) {
    this.o = {
      sinks: opts.sinks,
      attempts: Math.max(1, opts.attempts ?? 5),
      baseDelayMs: opts.baseDelayMs ?? 500,
      maxDelayMs: opts.maxDelayMs ?? 30_000,
      timeoutMs: opts.timeoutMs ?? 10_000,
      queueCapacity: opts.queueCapacity ?? 1_000,
      concurrency: Math.max(1, opts.concurrency ?? 4),
      claim: opts.claim ?? memoryClaim(),
      onOutcome: opts.onOutcome,
      sleep: opts.sleep ?? defaultSleep,
      log: opts.log ?? silentLogger,
    };
    this.unsubscribe = opts.bus
      ? opts.bus.subscribe((a) => {
          this.enqueue(a);
        })
      : null;
  }

  /** Alerts waiting or being delivered. */
  get pending(): number {
    return this.queue.length + this.active;
  }

  /** Alerts dropped because the queue was full. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Queues an alert; never blocks. Returns false when it was dropped (queue full or closed). */
  enqueue(alert: Alert): boolean {
    if (this.closed || this.queue.length >= this.o.queueCapacity) {
      if (!this.closed) {
        this.droppedCount++;
        this.o.log.warn("alert delivery queue full; alert dropped", { alertId: alert.id });
      }
      return false;
    }
    this.queue.push(alert);
    this.pump();
    return true;
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking alerts and waits for the queued ones to be delivered (or to fail). */
  async close(): Promise<void> {
    this.unsubscribe?.();
    await this.idle();
    this.closed = true;
  }

  /** The delay before attempt `n + 1`, after `n` failed attempts. */
  backoff(n: number): number {
    return Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** (n - 1));
  }

  private pump(): void {
    while (this.active < this.o.concurrency && this.queue.length > 0) {
      const alert = this.queue.shift()!;
      this.active++;
      void this.deliver(alert).finally(() => {
        this.active--;
        this.pump();
        if (this.pending === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const w of waiters) w();
        }
      });
    }
  }

  private async deliver(alert: Alert): Promise<void> {
    await Promise.all(this.o.sinks.map((sink) => this.deliverTo(alert, sink)));
  }

  private async deliverTo(alert: Alert, sink: AlertSink): Promise<void> {
    let claimed = true;
    try {
      claimed = await this.o.claim(alert.id, sink.name);
    } catch (err) {
      this.o.log.warn("alert claim failed; delivering anyway", { err, alertId: alert.id, sink: sink.name });
    }
    if (!claimed) return;
    let lastError = "";
    for (let n = 1; n <= this.o.attempts; n++) {
      try {
        await sink.send(alert, AbortSignal.timeout(this.o.timeoutMs));
        this.report({ alertId: alert.id, sink: sink.name, status: "delivered", attempts: n });
        return;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
        if (n < this.o.attempts) await this.o.sleep(this.backoff(n));
      }
    }
    this.o.log.error("alert delivery failed", { alertId: alert.id, sink: sink.name, lastError });
    this.report({ alertId: alert.id, sink: sink.name, status: "failed", attempts: this.o.attempts, lastError });
  }

  private report(outcome: DeliveryOutcome): void {
    try {
      this.o.onOutcome?.(outcome);
    } catch (err) {
      this.o.log.error("onOutcome callback failed", { err });
    }
  }
}
