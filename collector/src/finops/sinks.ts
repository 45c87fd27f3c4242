import type { Transporter } from "nodemailer";
import { EmailSink, type SmtpConfig, smtpTransport } from "../alerts/email.ts";
import {
  ALERT_ID_HEADER,
  type AlertSink,
  postJson,
  SIGNATURE_HEADER,
  SlackSink,
  signBody,
  WebhookSink,
} from "../alerts/sinks.ts";
import { ConfigError } from "../config.ts";
import type { Sink } from "../policy.ts";
import { type Chargeback, chargebackCsv } from "./chargeback.ts";
import { chargebackHtml, usdText } from "./html.ts";

/** One team's chargeback for one month, as it is delivered. */
export interface TeamReport {
  month: string;
  team: string;
  chargeback: Chargeback;
}

/** A destination that takes alerts and reports alike. */
export interface Destination extends AlertSink {
  sendReport(report: TeamReport, signal: AbortSignal): Promise<void>;
}

const teamLabel = (t: string) => (t === "" ? "(no team)" : t);

function reportSummary(r: TeamReport): string {
  const c = r.chargeback;
  const unpriced = c.unpricedCalls > 0 ? `, ${c.unpricedCalls} unpriced calls (cost unknown, not included)` : "";
  return `Chargeback ${r.month} for team ${teamLabel(r.team)}: ${usdText(c.totalUsd)} over ${c.rows.reduce((n, x) => n + x.calls, 0)} model calls${unpriced}.`;
}

class WebhookDestination extends WebhookSink implements Destination {
  constructor(
    private readonly url: string,
    private readonly secret: string | null,
  ) {
    super({ url, secret: secret ?? undefined });
  }
  async sendReport(r: TeamReport, signal: AbortSignal): Promise<void> {
    const body = JSON.stringify({ kind: "report.chargeback", team: r.team, ...r.chargeback });
    const headers: Record<string, string> = { [ALERT_ID_HEADER]: `chargeback:${r.month}:${r.team}` };
    if (this.secret) headers[SIGNATURE_HEADER] = signBody(body, this.secret);
    await postJson(this.url, body, headers, signal);
  }
}

class SlackDestination extends SlackSink implements Destination {
  constructor(private readonly url: string) {
    super({ url });
  }
  async sendReport(r: TeamReport, signal: AbortSignal): Promise<void> {
    await postJson(this.url, JSON.stringify({ text: reportSummary(r) }), {}, signal);
  }
}

class EmailDestination extends EmailSink implements Destination {
  async sendReport(r: TeamReport, signal: AbortSignal): Promise<void> {
    await this.mail(
      {
        subject: `[Cognive] Chargeback ${r.month}, team ${teamLabel(r.team)}: ${usdText(r.chargeback.totalUsd)}`,
        text: `${reportSummary(r)}\n\nThe report is attached as CSV; open the HTML part to print it.`,
        html: chargebackHtml(r.chargeback),
        attachments: [
          {
            filename: `chargeback-${r.month}.csv`,
            content: chargebackCsv(r.chargeback),
            contentType: "text/csv; charset=utf-8",
          },
        ],
      },
      signal,
    );
  }
}

/**
 * The destinations of a policy's sink list. Email sinks share one SMTP transport; declaring one
 * without COGNIVE_SMTP_HOST stops start-up.
 */
export function destinationsOf(sinks: readonly Sink[], smtp: SmtpConfig | undefined, what: string): Destination[] {
  let transport: Transporter | undefined;
  return sinks.map((s) => {
    if (s.type === "webhook") return new WebhookDestination(s.url, s.secret);
    if (s.type === "slack") return new SlackDestination(s.url);
    if (!smtp) throw new ConfigError(`${what}: an email sink needs COGNIVE_SMTP_HOST (and COGNIVE_SMTP_FROM)`);
    transport ??= smtpTransport(smtp);
    return new EmailDestination(transport, smtp.from, s.to);
  });
}
