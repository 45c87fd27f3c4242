import { readFileSync } from "node:fs";
import nodemailer, { type Transporter } from "nodemailer";
import { ConfigError } from "../config.ts";
import type { Alert } from "./alert.ts";
import { type AlertSink, alertText } from "./sinks.ts";

/** How mail leaves: an SMTP server, from the environment (COGNIVE_SMTP_*). */
export interface SmtpConfig {
  host: string;
  port: number;
  /** `tls`: TLS from the first byte (usually 465); `starttls`: upgrade required (587); `none`: plain (loopback relays only). */
  security: "tls" | "starttls" | "none";
  user?: string;
  password?: string;
  from: string;
  /** PEM file of the CA that signed the server's certificate, when it is not a public one. */
  caFile?: string;
}

type SmtpEnv =
  | "COGNIVE_SMTP_HOST"
  | "COGNIVE_SMTP_PORT"
  | "COGNIVE_SMTP_SECURITY"
  | "COGNIVE_SMTP_USER"
  | "COGNIVE_SMTP_PASSWORD"
  | "COGNIVE_SMTP_FROM"
  | "COGNIVE_SMTP_CA_FILE";

/** The SMTP settings of the environment, or undefined when COGNIVE_SMTP_HOST is unset. A bad value names its variable. */
export function smtpConfigFromEnv(env: { readonly [K in SmtpEnv]?: string }): SmtpConfig | undefined {
  const host = env.COGNIVE_SMTP_HOST;
  if (!host) return undefined;
  const security = env.COGNIVE_SMTP_SECURITY ?? "starttls";
  if (security !== "tls" && security !== "starttls" && security !== "none") {
    throw new ConfigError("COGNIVE_SMTP_SECURITY: must be one of tls, starttls, none");
  }
  const port = Number(env.COGNIVE_SMTP_PORT ?? (security === "tls" ? 465 : 587));
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError("COGNIVE_SMTP_PORT: must be a port number (1-65535)");
  }
  const user = env.COGNIVE_SMTP_USER || undefined;
  const password = env.COGNIVE_SMTP_PASSWORD || undefined;
  if ((user === undefined) !== (password === undefined)) {
    throw new ConfigError("COGNIVE_SMTP_USER and COGNIVE_SMTP_PASSWORD: set both or neither");
  }
  const from = env.COGNIVE_SMTP_FROM;
  if (!from || !/^[^\s@<>]+@[^\s@<>]+$/.test(from)) {
    throw new ConfigError("COGNIVE_SMTP_FROM: must be the sender's address, e.g. cognive@example.com");
  }
  return { host, port, security, user, password, from, caFile: env.COGNIVE_SMTP_CA_FILE || undefined };
}

/** A mail transport; the password stays inside it and is never part of a name, message or log line. */
export function smtpTransport(c: SmtpConfig): Transporter {
  return nodemailer.createTransport({
    host: c.host,
    port: c.port,
    secure: c.security === "tls",
    requireTLS: c.security === "starttls",
    ignoreTLS: c.security === "none",
    auth: c.user !== undefined ? { user: c.user, pass: c.password } : undefined,
    tls: c.caFile ? { ca: readFileSync(c.caFile, "utf8") } : undefined,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
    logger: false,
  });
}

export interface MailAttachment {
  filename: string;
  content: string;
  contentType: string;
}

export interface Mail {
  subject: string;
  text: string;
  html?: string;
  attachments?: MailAttachment[];
}

/** Subject lines carry names from telemetry: no line breaks (header injection), bounded. */
const subjectLine = (s: string) => s.replace(/[\r\n\p{Cc}]+/gu, " ").slice(0, 200);

/** Mails alerts (and reports) to a fixed list of addresses. */
export class EmailSink implements AlertSink {
  readonly name: string;
  constructor(
    private readonly transport: Transporter,
    private readonly from: string,
    private readonly to: readonly string[],
  ) {
    this.name = `email:${to.join(",")}`;
  }

  async send(alert: Alert, signal: AbortSignal): Promise<void> {
    const text = alertText(alert).replace(/:[a-z_]+: /g, "");
    await this.mail(
      { subject: `[Cognive] ${text}`, text: `${text}\n\n${alert.kind} · ${alert.time} · alert ${alert.id}` },
      signal,
    );
  }

  /** Sends one message; resolves once the server accepted it for every recipient, else throws. */
  async mail(m: Mail, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const sending = this.transport.sendMail({
      from: this.from,
      to: [...this.to],
      subject: subjectLine(m.subject),
      text: m.text,
      html: m.html,
      attachments: m.attachments,
    });
    const aborted = new Promise<never>((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason ?? new Error("aborted")), { once: true }),
    );
    const info = (await Promise.race([sending, aborted])) as { rejected?: unknown[] };
    if (info.rejected && info.rejected.length > 0) throw new Error(`rejected recipients: ${info.rejected.join(", ")}`);
  }
}
