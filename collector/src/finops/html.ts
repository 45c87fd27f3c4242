import { addUsd } from "@cognive/semconv";
import { type Chargeback, type ChargebackRow, nanoUsd } from "./chargeback.ts";

/** Text for HTML element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );
}

/** Dollars with enough digits that a small cost never reads as a different cent. */
export function usdText(usd: number): string {
  if (usd === 0) return "$0.00";
  const digits = Math.abs(usd) >= 1 ? 2 : Math.min(9, 2 + Math.max(0, -Math.floor(Math.log10(Math.abs(usd)))));
  return `$${usd.toFixed(digits)}`;
}

const BAR_COLOURS = ["#3b6fd6", "#d6803b", "#3ba36b", "#a33b8f", "#8f8f3b", "#3b9fa3"];

/** A horizontal bar chart of cost per key, as inline SVG (prints as vectors). */
function barChart(title: string, entries: [string, number][]): string {
  if (entries.length === 0) return "";
  const max = Math.max(...entries.map(([, v]) => v), 1e-12);
  const row = 24;
  const height = entries.length * row + 8;
  const bars = entries
    .map(([k, v], i) => {
      const w = Math.max(1, Math.round((v / max) * 360));
      const y = i * row + 4;
      return `<text x="0" y="${y + 15}" font-size="12">${escapeHtml(k)}</text><rect x="180" y="${y}" width="${w}" height="18" fill="${BAR_COLOURS[i % BAR_COLOURS.length]}"/><text x="${186 + w}" y="${y + 14}" font-size="12">${usdText(v)}</text>`;
    })
    .join("");
  return `<figure><figcaption>${escapeHtml(title)}</figcaption><svg role="img" aria-label="${escapeHtml(title)}" width="680" height="${height}" viewBox="0 0 680 ${height}">${bars}</svg></figure>`;
}

function sumBy(rows: ChargebackRow[], key: (r: ChargebackRow) => string): [string, number][] {
  const m = new Map<string, number>();
  for (const r of rows) m.set(key(r), addUsd(m.get(key(r)) ?? 0, r.costUsd ?? 0));
  return [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

const label = (s: string) => (s === "" ? "(none)" : s);

function teamSection(month: string, team: string, rows: ChargebackRow[]): string {
  const total = rows.reduce((s, r) => addUsd(s, r.costUsd ?? 0), 0);
  const calls = rows.reduce((s, r) => s + r.calls, 0);
  const unpriced = rows.reduce((s, r) => s + r.unpricedCalls, 0);
  const body = rows
    .map(
      (r) =>
        `<tr><td>${escapeHtml(label(r.agent))}</td><td>${escapeHtml(label(r.model))}</td><td>${escapeHtml(label(r.provider))}</td><td class="n">${r.calls}</td><td class="n">${r.inputTokens}</td><td class="n">${r.outputTokens}</td><td class="n">${r.cacheReadTokens}</td><td class="n">${r.cacheWriteTokens}</td><td class="n">${r.costUsd === null ? "unpriced" : `$${nanoUsd(r.costUsd)}`}</td><td class="n">${r.unpricedCalls}</td></tr>`,
    )
    .join("\n");
  return `<section class="team">
<h1>Chargeback ${escapeHtml(month)}: team ${escapeHtml(label(team))}</h1>
<p class="total">Total <strong data-total="${nanoUsd(total)}">${usdText(total)}</strong> over ${calls} model calls${unpriced > 0 ? `; <strong>${unpriced} unpriced</strong> (their cost is unknown and not included)` : ""}.</p>
${barChart(
  "Cost by agent",
  sumBy(rows, (r) => label(r.agent)),
)}
${barChart(
  "Cost by model",
  sumBy(rows, (r) => label(r.model)),
)}
<table>
<thead><tr><th>agent</th><th>model</th><th>provider</th><th>calls</th><th>input tokens</th><th>output tokens</th><th>cache read</th><th>cache write</th><th>cost (USD)</th><th>unpriced calls</th></tr></thead>
<tbody>
${body}
</tbody>
<tfoot><tr><th colspan="8">total</th><th class="n">$${nanoUsd(total)}</th><th class="n">${unpriced}</th></tr></tfoot>
</table>
</section>`;
}

/** A printable report, one page per team (the browser prints it to PDF). */
export function chargebackHtml(c: Chargeback): string {
  const teams = new Map<string, ChargebackRow[]>();
  for (const r of c.rows) teams.set(r.team, [...(teams.get(r.team) ?? []), r]);
  const sections =
    teams.size === 0
      ? `<section class="team"><h1>Chargeback ${escapeHtml(c.month)}</h1><p>No model calls in this month.</p></section>`
      : [...teams.entries()].map(([team, rows]) => teamSection(c.month, team, rows)).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cognive chargeback ${escapeHtml(c.month)}</title>
<style>
body { font: 13px/1.4 system-ui, sans-serif; color: #111; margin: 24px; }
h1 { font-size: 18px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; margin-top: 12px; }
th, td { border-bottom: 1px solid #ccc; padding: 3px 6px; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 8px 0; } figcaption { font-weight: 600; }
section.team { break-after: page; }
@media print { body { margin: 0; } }
</style></head><body>
${sections}
</body></html>
`;
}
