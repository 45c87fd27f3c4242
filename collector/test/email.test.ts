import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { SMTPServer } from "smtp-server";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Alert, alertId } from "../src/alerts/alert.ts";
import { InProcessBus } from "../src/alerts/bus.ts";
import { type SmtpConfig, smtpConfigFromEnv } from "../src/alerts/email.ts";
import { Deliverer } from "../src/alerts/sinks.ts";
import { ConfigError } from "../src/config.ts";
import { ChargebackSchedule, redisReportLease } from "../src/finops/schedule.ts";
import { destinationsOf } from "../src/finops/sinks.ts";
import type { Logger } from "../src/log.ts";
import { parsePolicy } from "../src/policy.ts";
import type { Storage } from "../src/storage/client.ts";
import { missingService, startRedis } from "./support/services.ts";
import { insertSpanRows, modelCallRow, openTestStorage } from "./support/storage.ts";

const USER = "mailer";
const PASSWORD = "s3cret-smtp-password-never-logged";

interface Message {
  from: string;
  to: string[];
  raw: string;
  user: string | undefined;
  secure: boolean;
}

/** A real SMTP server on 127.0.0.1 that requires a login and keeps every message it accepts. */
async function smtp(opts: { tls?: { key: string; cert: string } } = {}) {
  const messages: Message[] = [];
  const server = new SMTPServer({
    secure: false,
    authOptional: false,
    allowInsecureAuth: !opts.tls,
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : { disabledCommands: ["STARTTLS"] }),
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === USER && auth.password === PASSWORD) cb(null, { user: USER });
      else cb(new Error("invalid credentials"));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString("utf8"),
          user: session.user as string | undefined,
          secure: session.secure,
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    messages,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A message as a reader sees it: folded header lines joined, quoted-printable soft breaks removed. */
const readable = (raw: string) => raw.replace(/\r?\n[ \t]/g, " ").replace(/=\r?\n/g, "");

const config = (port: number, over: Partial<SmtpConfig> = {}): SmtpConfig => ({
  host: "127.0.0.1",
  port,
  security: "none",
  user: USER,
  password: PASSWORD,
  from: "cognive@example.com",
  ...over,
});

/** A logger that keeps every line with its fields, to prove the password never reaches one. */
function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const keep = (msg: string, fields?: Record<string, unknown>) =>
    lines.push(
      `${msg} ${JSON.stringify(fields ?? {}, (_k, v) => (v instanceof Error ? `${v.message} ${v.stack}` : v))}`,
    );
  return { log: { debug: keep, info: keep, warn: keep, error: keep } as Logger, lines };
}

const alert: Alert = {
  id: alertId({
    kind: "budget.threshold",
    scope: { type: "team", name: "cx", window: "month" },
    windowKey: "2026-11",
    threshold: 80,
  }),
  kind: "budget.threshold",
  time: "2026-11-24T10:00:00.000Z",
  agent: "refund-agent",
  team: "cx",
  scope: { type: "team", name: "cx", window: "month" },
  threshold: 80,
  spendUsd: 400,
  limitUsd: 500,
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

describe("email sink", () => {
  it("delivers an alert to a real SMTP server on loopback, logged in", async () => {
    const server = await smtp();
    cleanups.push(server.close);
    const bus = new InProcessBus();
    const { log, lines } = capture();
    const deliverer = new Deliverer({
      sinks: destinationsOf(
        [{ type: "email", to: ["ops@example.com", "finops@example.com"] }],
        config(server.port),
        "alerts.sinks",
      ),
      bus,
      log,
      baseDelayMs: 1,
    });
    await bus.publish(alert);
    await deliverer.idle();
    await deliverer.close();
    expect(server.messages).toHaveLength(1);
    const m = server.messages[0];
    expect(m.user).toBe(USER);
    expect(m.from).toBe("cognive@example.com");
    expect(m.to).toEqual(["ops@example.com", "finops@example.com"]);
    expect(readable(m.raw)).toMatch(
      /^Subject: \[Cognive\] team cx reached 80 % of its monthly budget: \$400\.00 of \$500\.00$/m,
    );
    expect(readable(m.raw)).toContain(alert.id);
    expect(lines.join("\n")).not.toContain(PASSWORD);
  });

  it("reports a refused login as a failed delivery without the password in the log", async () => {
    const server = await smtp();
    cleanups.push(server.close);
    const { log, lines } = capture();
    const outcomes: string[] = [];
    const deliverer = new Deliverer({
      sinks: destinationsOf(
        [{ type: "email", to: ["ops@example.com"] }],
        config(server.port, { password: "wrong-password-xyz" }),
        "alerts.sinks",
      ),
      log,
      attempts: 2,
      baseDelayMs: 1,
      onOutcome: (o) => outcomes.push(`${o.status}:${o.attempts}`),
    });
    deliverer.enqueue(alert);
    await deliverer.idle();
    expect(outcomes).toEqual(["failed:2"]);
    expect(server.messages).toHaveLength(0);
    expect(lines.join("\n")).not.toContain("wrong-password-xyz");
  });

  it("upgrades with STARTTLS and checks the server's certificate against the configured CA", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cognive-smtp-tls-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    // A self-signed certificate for 127.0.0.1, made locally for this test.
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    const tls = { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8") };
    const server = await smtp({ tls });
    cleanups.push(server.close);
    const [trusted] = destinationsOf(
      [{ type: "email", to: ["ops@example.com"] }],
      config(server.port, { security: "starttls", caFile: join(dir, "cert.pem") }),
      "alerts.sinks",
    );
    await trusted.send(alert, AbortSignal.timeout(10_000));
    expect(server.messages).toHaveLength(1);
    expect(server.messages[0].secure).toBe(true);
    // Without the CA the certificate is not trusted: nothing is sent in the clear instead.
    const [untrusted] = destinationsOf(
      [{ type: "email", to: ["ops@example.com"] }],
      config(server.port, { security: "starttls" }),
      "x",
    );
    await expect(untrusted.send(alert, AbortSignal.timeout(10_000))).rejects.toThrow();
    expect(server.messages).toHaveLength(1);
  });

  it("reads its settings from the environment and names a bad variable", () => {
    expect(smtpConfigFromEnv({})).toBeUndefined();
    expect(
      smtpConfigFromEnv({ COGNIVE_SMTP_HOST: "mail.example.com", COGNIVE_SMTP_FROM: "c@example.com" }),
    ).toMatchObject({ host: "mail.example.com", port: 587, security: "starttls", from: "c@example.com" });
    expect(
      smtpConfigFromEnv({ COGNIVE_SMTP_HOST: "h", COGNIVE_SMTP_SECURITY: "tls", COGNIVE_SMTP_FROM: "c@example.com" })
        ?.port,
    ).toBe(465);
    for (const [env, name] of [
      [{ COGNIVE_SMTP_HOST: "h", COGNIVE_SMTP_FROM: "c@example.com", COGNIVE_SMTP_PORT: "99999" }, "COGNIVE_SMTP_PORT"],
      [
        { COGNIVE_SMTP_HOST: "h", COGNIVE_SMTP_FROM: "c@example.com", COGNIVE_SMTP_SECURITY: "ssl" },
        "COGNIVE_SMTP_SECURITY",
      ],
      [{ COGNIVE_SMTP_HOST: "h", COGNIVE_SMTP_FROM: "c@example.com", COGNIVE_SMTP_USER: "u" }, "COGNIVE_SMTP_USER"],
      [{ COGNIVE_SMTP_HOST: "h" }, "COGNIVE_SMTP_FROM"],
      [{ COGNIVE_SMTP_HOST: "h", COGNIVE_SMTP_FROM: "x\r\nBcc: a@b" }, "COGNIVE_SMTP_FROM"],
    ] as const) {
      expect(() => smtpConfigFromEnv(env)).toThrow(ConfigError);
      expect(() => smtpConfigFromEnv(env)).toThrow(name);
    }
    expect(() => destinationsOf([{ type: "email", to: ["a@example.com"] }], undefined, "alerts.sinks")).toThrow(
      /alerts\.sinks: an email sink needs COGNIVE_SMTP_HOST/,
    );
  });

  it("accepts email sinks and report delivery in the policy, and rejects bad addresses", () => {
    const policy = parsePolicy(`alerts:
  sinks: [{ type: email, to: [ops@example.com] }]
reports:
  chargeback:
    sinks: [{ type: email, to: [finance@example.com] }]
    teams:
      cx: { sinks: [{ type: webhook, url: "http://127.0.0.1:9/x" }] }
`);
    expect(policy.alerts.sinks).toEqual([{ type: "email", to: ["ops@example.com"] }]);
    expect(policy.reports?.chargeback?.sinks).toEqual([{ type: "email", to: ["finance@example.com"] }]);
    expect(policy.reports?.chargeback?.teams.get("cx")).toEqual([
      { type: "webhook", url: "http://127.0.0.1:9/x", secret: null },
    ]);
    expect(() => parsePolicy("alerts: { sinks: [{ type: email, to: [not-an-address] }] }")).toThrow(
      /alerts\.sinks\.0\.to\.0/,
    );
    expect(() => parsePolicy("alerts: { sinks: [{ type: email, to: [] }] }")).toThrow(/alerts\.sinks\.0\.to/);
    expect(() => parsePolicy("reports: { chargeback: { day: 3 } }")).toThrow(/reports\.chargeback\.day: unknown key/);
  });
});

describe("scheduled chargeback delivery", () => {
  let storage: Storage;
  let closeStorage: () => Promise<void>;
  beforeAll(async () => {
    ({ storage, close: closeStorage } = await openTestStorage("email-report"));
    await insertSpanRows(storage, [
      modelCallRow("2026-10-03T10:00:00.000Z", "refund-agent", "cx", 1.25),
      modelCallRow("2026-10-31T23:59:00.000Z", "refund-agent", "cx", 0.000000001),
      modelCallRow("2026-10-15T08:00:00.000Z", "search-agent", "search", 3),
      // The current month: not in October's report.
      modelCallRow("2026-11-01T00:00:00.000Z", "refund-agent", "cx", 100),
    ]);
  }, 60_000);
  afterAll(async () => {
    await closeStorage?.();
  });

  it("sends each team's report once to its own sinks, across restarts, and retries a failed send", async () => {
    const server = await smtp();
    cleanups.push(server.close);
    const { log, lines } = capture();
    const delivery = parsePolicy(`reports:
  chargeback:
    sinks: [{ type: email, to: [finance@example.com] }]
    teams:
      search: { sinks: [{ type: email, to: [search-lead@example.com] }] }
`).reports?.chargeback;
    if (!delivery) throw new Error("no delivery");
    let password = "wrong-at-first";
    const schedule = () =>
      new ChargebackSchedule({
        storage,
        delivery,
        destinations: (sinks) => destinationsOf(sinks, config(server.port, { password }), "reports.chargeback"),
        log,
        now: () => new Date("2026-11-01T06:00:00.000Z"),
        attempts: 1,
      });
    // The SMTP login fails: nothing arrives, and the failures are recorded to be tried again.
    expect(await schedule().check()).toEqual({ month: "2026-10", sent: 0, failed: 2, skipped: 0 });
    expect(server.messages).toHaveLength(0);
    password = PASSWORD;
    expect(await schedule().check()).toEqual({ month: "2026-10", sent: 2, failed: 0, skipped: 0 });
    // A restart (a new schedule on the same storage) sends nothing twice.
    expect(await schedule().check()).toEqual({ month: "2026-10", sent: 0, failed: 0, skipped: 2 });
    expect(server.messages).toHaveLength(2);
    const cx = server.messages.find((m) => m.to.includes("finance@example.com"));
    const search = server.messages.find((m) => m.to.includes("search-lead@example.com"));
    expect(readable(cx?.raw ?? "")).toMatch(/^Subject: \[Cognive\] Chargeback 2026-10, team cx: \$1\.25$/m);
    expect(cx?.raw).toContain("filename=chargeback-2026-10.csv");
    // The attachment holds cx's rows only, the cost to the nano-dollar.
    const csv = Buffer.from(
      /filename=chargeback-2026-10\.csv\r\n\r\n([A-Za-z0-9+/=\r\n]+?)\r\n--/.exec(cx?.raw ?? "")?.[1] ?? "",
      "base64",
    ).toString("utf8");
    expect(csv).toContain("cx,refund-agent,,,2,0,0,0,0,1.250000001,0");
    expect(csv).not.toContain("search");
    expect(cx?.raw).toContain("text/html");
    expect(readable(search?.raw ?? "")).toContain("team search: $3.00");
    expect(lines.join("\n")).not.toContain(PASSWORD);
  }, 60_000);

  it.skipIf(missingService("redis-server"))(
    "sends a report once when several collectors check at the same time, sharing a lease in Redis",
    async () => {
      const server = await smtp();
      cleanups.push(server.close);
      const redisSvc = await startRedis();
      const redis = new Redis(redisSvc.url);
      cleanups.push(async () => {
        redis.disconnect();
        await redisSvc.stop();
      });
      const delivery = parsePolicy("reports: { chargeback: { sinks: [{ type: email, to: [finance@example.com] }] } }")
        .reports?.chargeback;
      if (!delivery) throw new Error("no delivery");
      const collector = () =>
        new ChargebackSchedule({
          storage,
          delivery,
          destinations: (sinks) => destinationsOf(sinks, config(server.port), "reports.chargeback"),
          now: () => new Date("2026-12-01T06:00:00.000Z"),
          attempts: 1,
          lease: redisReportLease(redis),
        });
      // November holds one team's spend (cx): one report, whichever collector gets the lease.
      const runs = await Promise.all([collector().check(), collector().check(), collector().check()]);
      expect(runs.map((r) => r.sent).reduce((a, b) => a + b)).toBe(1);
      expect(runs.map((r) => r.skipped).reduce((a, b) => a + b)).toBe(2);
      expect(server.messages).toHaveLength(1);
      expect(readable(server.messages[0]?.raw ?? "")).toContain("Chargeback 2026-11, team cx: $100.00");
    },
    60_000,
  );
});
