import { connect, Events, type NatsConnection, type Subscription } from "nats";
import { type Logger, silentLogger } from "../log.ts";
import { type Alert, alertSchema } from "./alert.ts";

export type AlertHandler = (alert: Alert) => void | Promise<void>;

/** Fan-out of alerts between the governance code that raises them and the sinks that deliver them. */
export interface AlertBus {
  /** Never throws and never waits on the network. */
  publish(alert: Alert): Promise<void>;
  /** Returns an unsubscribe function. A throwing handler never affects other handlers or the publisher. */
  subscribe(handler: AlertHandler): () => void;
  close(): Promise<void>;
}

export const ALERT_SUBJECT_PREFIX = "cognive.alerts";
/** Subject for one alert: `cognive.alerts.<kind>`, e.g. `cognive.alerts.budget.threshold`. */
export const alertSubject = (alert: Pick<Alert, "kind">): string => `${ALERT_SUBJECT_PREFIX}.${alert.kind}`;
/** Wildcard subject matching every alert kind. */
export const ALL_ALERTS_SUBJECT = `${ALERT_SUBJECT_PREFIX}.>`;

function callIsolated(handler: AlertHandler, alert: Alert, log: Logger): void {
  try {
    const r = handler(alert);
    if (r && typeof (r as Promise<void>).catch === "function") {
      (r as Promise<void>).catch((err: unknown) => log.error("alert handler failed", { err, alertId: alert.id }));
    }
  } catch (err) {
    log.error("alert handler failed", { err, alertId: alert.id });
  }
}

/** Embedded mode: handlers are called synchronously inside publish, each isolated from the others. */
export class InProcessBus implements AlertBus {
  private readonly handlers = new Set<AlertHandler>();
  private closed = false;

  constructor(private readonly log: Logger = silentLogger) {}

  async publish(alert: Alert): Promise<void> {
    if (this.closed) return;
    for (const h of [...this.handlers]) callIsolated(h, alert, this.log);
  }

  subscribe(handler: AlertHandler): () => void {
    // wrap so the same function subscribed twice gets two independent subscriptions
    const h: AlertHandler = (a) => handler(a);
    this.handlers.add(h);
    return () => {
      this.handlers.delete(h);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
  }
}

export interface NatsBusOptions {
  servers: string | string[];
  /** Alerts kept while NATS is unreachable; beyond this, new alerts are dropped and counted. Default 10,000. */
  capacity?: number;
  /** Wait between (re)connect attempts, ms. Default 2,000 (the client's default). */
  reconnectTimeWait?: number;
  /** Client name shown by the server. */
  name?: string;
  log?: Logger;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Alerts over NATS core: subject `cognive.alerts.<kind>`, JSON payload (the alert object).
 *
 * The connection is made in the background (`waitOnFirstConnect`, `maxReconnectAttempts: -1`), so a
 * NATS server that is down at start-up or goes away later never makes `publish` throw or wait: while
 * disconnected, alerts go to a bounded in-memory FIFO (`pending`; when full, new alerts are dropped and
 * counted in `dropped`), flushed in order as soon as the client reports a (re)connection.
 * NATS core is at-most-once: subscribers that are not connected when an alert is flushed miss it.
 */
export class NatsBus implements AlertBus {
  private nc: NatsConnection | null = null;
  private connected = false;
  private closing = false;
  private readonly queue: Alert[] = [];
  private droppedCount = 0;
  private readonly capacity: number;
  private readonly log: Logger;
  private readonly handlers = new Set<AlertHandler>();
  private sub: Subscription | null = null;
  private readonly ready: Promise<NatsConnection | null>;

  constructor(opts: NatsBusOptions) {
    this.capacity = Math.max(0, opts.capacity ?? 10_000);
    this.log = opts.log ?? silentLogger;
    const wait = opts.reconnectTimeWait ?? 2_000;
    this.ready = connect({
      servers: opts.servers,
      name: opts.name ?? "cognive-alerts",
      maxReconnectAttempts: -1,
      waitOnFirstConnect: true,
      reconnectTimeWait: wait,
      // The only way to stop the client's first-connect loop before it has connected: it asks for the
      // next delay on every round, and a throw ends the loop (connect() then rejects).
      reconnectDelayHandler: () => {
        if (this.closing) throw new Error("alert bus closed");
        return wait + Math.floor(Math.random() * Math.min(100, wait + 1));
      },
    }).then(
      (nc) => {
        if (this.closing) {
          void nc.close().catch(() => {});
          return null;
        }
        this.nc = nc;
        this.connected = true;
        this.log.info("alert bus connected to NATS", { server: nc.getServer() });
        void this.watch(nc);
        if (this.handlers.size > 0) this.openSubscription();
        this.flush();
        return nc;
      },
      (err: unknown) => {
        if (!this.closing) this.log.error("alert bus could not connect to NATS", { err });
        return null;
      },
    );
  }

  /** Alerts waiting for NATS. */
  get pending(): number {
    return this.queue.length;
  }

  /** Alerts dropped because the pending queue was full. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Whether the client is connected right now (alerts go straight to NATS). */
  get isConnected(): boolean {
    return this.connected;
  }

  async publish(alert: Alert): Promise<void> {
    if (this.closing) return;
    if (this.connected && this.queue.length === 0 && this.send(alert)) return;
    this.enqueue(alert);
  }

  subscribe(handler: AlertHandler): () => void {
    const h: AlertHandler = (a) => handler(a);
    this.handlers.add(h);
    if (this.nc && !this.sub) this.openSubscription();
    return () => {
      this.handlers.delete(h);
    };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.handlers.clear();
    if (this.queue.length > 0) this.log.warn("alert bus closed with alerts pending", { pending: this.queue.length });
    const nc = this.nc;
    const wasConnected = this.connected;
    this.connected = false;
    if (!nc) {
      // not connected yet: the dial loop stops at its next round (see reconnectDelayHandler)
      await this.ready;
      return;
    }
    try {
      if (!nc.isClosed()) {
        if (wasConnected && !nc.isDraining()) await nc.drain();
        else await nc.close();
      }
    } catch {
      await nc.close().catch(() => {});
    }
  }

  private send(alert: Alert): boolean {
    const nc = this.nc;
    if (!nc) return false;
    try {
      nc.publish(alertSubject(alert), encoder.encode(JSON.stringify(alert)));
      return true;
    } catch (err) {
      this.log.warn("alert publish to NATS failed; queued", { err, alertId: alert.id });
      return false;
    }
  }

  private enqueue(alert: Alert): void {
    if (this.queue.length >= this.capacity) {
      this.droppedCount++;
      this.log.warn("alert pending queue full; alert dropped", { alertId: alert.id, dropped: this.droppedCount });
      return;
    }
    this.queue.push(alert);
  }

  private flush(): void {
    let sent = 0;
    while (this.connected && this.queue.length > 0) {
      if (!this.send(this.queue[0])) break;
      this.queue.shift();
      sent++;
    }
    if (sent > 0) this.log.info("alert bus flushed pending alerts", { sent, pending: this.queue.length });
  }

  private async watch(nc: NatsConnection): Promise<void> {
    void nc.closed().then(() => {
      this.connected = false;
    });
    try {
      for await (const s of nc.status()) {
        if (s.type === Events.Disconnect) {
          this.connected = false;
          this.log.warn("alert bus disconnected from NATS; queueing alerts", { server: String(s.data) });
        } else if (s.type === Events.Reconnect) {
          this.connected = true;
          this.log.info("alert bus reconnected to NATS", { server: String(s.data) });
          this.flush();
        }
      }
    } catch (err) {
      this.log.warn("alert bus status watcher ended", { err });
    }
  }

  private openSubscription(): void {
    const nc = this.nc;
    if (!nc || this.sub || this.closing) return;
    const sub = nc.subscribe(ALL_ALERTS_SUBJECT, {
      callback: (err, msg) => {
        if (err) {
          this.log.warn("alert subscription error", { err });
          return;
        }
        let alert: Alert;
        try {
          alert = alertSchema.parse(JSON.parse(decoder.decode(msg.data)));
        } catch (e) {
          this.log.warn("ignoring malformed alert message", { err: e, subject: msg.subject });
          return;
        }
        for (const h of [...this.handlers]) callIsolated(h, alert, this.log);
      },
    });
    this.sub = sub;
  }
}
