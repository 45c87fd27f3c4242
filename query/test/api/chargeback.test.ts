import type { ChargebackRow as Row } from "@cognive/collector";
import { describe, expect, it } from "vitest";
import { INJECTIONS, type SpanRow, sec, traceId, useFixture } from "./fixture.ts";

const NOV = Date.UTC(2023, 10, 1) / 1000;
const DEC = Date.UTC(2023, 11, 1) / 1000;

let n = 0;
const call = (at: number, team: string, agent: string, model: string, o: Partial<SpanRow> = {}): SpanRow => ({
  TraceId: traceId(++n, "d"),
  SpanId: "0000000000000001",
  startNs: sec(at),
  Duration: 1_000_000,
  SpanName: "chat",
  TeamName: team,
  AgentName: agent,
  GenAiOperation: "chat",
  GenAiProvider: "openai",
  GenAiRequestModel: model,
  GenAiUsageRole: "model_call",
  Priced: 1,
  ...o,
});

const rows: SpanRow[] = [
  // November: two calls of red/a1/gpt-4o (summed into one row), one with cache tokens.
  call(NOV, "red", "a1", "gpt-4o", { InputTokens: 100, OutputTokens: 10, CostUsd: 0.000123456 }),
  call(NOV + 86_400 * 10, "red", "a1", "gpt-4o", {
    InputTokens: 200,
    OutputTokens: 20,
    CacheReadTokens: 50,
    CacheWriteTokens: 7,
    CostUsd: 0.1,
  }),
  call(NOV + 3600, "red", "a2", "claude-sonnet-4", { GenAiProvider: "anthropic", InputTokens: 1, CostUsd: 2.5 }),
  // The last second of November counts; the first of December does not.
  call(DEC - 1, "blue", "b1", "gpt-4o", { InputTokens: 3, CostUsd: 0.333333333 }),
  call(DEC, "blue", "b1", "gpt-4o", { CostUsd: 100 }),
  call(NOV - 1, "blue", "b1", "gpt-4o", { CostUsd: 100 }),
  // Unpriced: an unknown model alone in its row (cost unknown), and one beside priced calls.
  call(NOV + 5000, "blue", "b1", "mystery", { Priced: 0, InputTokens: 9 }),
  call(NOV + 6000, "red", "a1", "gpt-4o", { Priced: 0, InputTokens: 4 }),
  // A name that a spreadsheet would run as a formula, and one with a comma and a quote.
  call(NOV + 7000, "=cmd|' /C calc'!A0", 'a,"b"', "gpt-4o", { CostUsd: 0.01 }),
];

const fx = useFixture(rows);

describe("GET /api/v1/reports/chargeback", () => {
  it("has one row per team × agent × model with hand-computed sums, unpriced calls on their own", async () => {
    const { status, body } = await fx().get("/api/v1/reports/chargeback?month=2023-11");
    expect(status).toBe(200);
    expect(body.month).toBe("2023-11");
    const rows = body.rows as Row[];
    expect(rows.map((r) => `${r.team}/${r.agent}/${r.model}`)).toEqual([
      "=cmd|' /C calc'!A0/a,\"b\"/gpt-4o",
      "blue/b1/gpt-4o",
      "blue/b1/mystery",
      "red/a1/gpt-4o",
      "red/a2/claude-sonnet-4",
    ]);
    const red = rows[3];
    expect(red).toMatchObject({
      provider: "openai",
      calls: 3,
      unpricedCalls: 1,
      inputTokens: 304,
      outputTokens: 30,
      cacheReadTokens: 50,
      cacheWriteTokens: 7,
    });
    expect(red.costUsd).toBeCloseTo(0.100123456, 12);
    expect(rows[1]).toMatchObject({ calls: 1, unpricedCalls: 0, inputTokens: 3 });
    expect(rows[1].costUsd).toBeCloseTo(0.333333333, 12);
    // Nothing of it could be priced: unknown, not $0.
    expect(rows[2]).toMatchObject({ calls: 1, unpricedCalls: 1, costUsd: null });
    expect(body.unpricedCalls).toBe(2);
    expect(body.totalUsd).toBeCloseTo(0.000123456 + 0.1 + 2.5 + 0.333333333 + 0.01, 12);
  });

  it("adds up to the costs API for the same month exactly, per team and in total", async () => {
    const res = await fx().app.request("/api/v1/reports/chargeback?month=2023-11&format=csv");
    expect(res.headers.get("content-type")).toContain("text/csv");
    const csv = await res.text();
    const lines = csv.trimEnd().split("\r\n");
    expect(lines[0]).toBe(
      "team,agent,model,provider,calls,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,cost_usd,unpriced_calls",
    );
    const byTeam = new Map<string, number>();
    let unpriced = 0;
    for (const line of lines.slice(1)) {
      // Only the first row's names hold quotes; the figures are the last 7 fields of every row.
      const fields = line.split(",");
      const team = line.startsWith("'=") ? "=cmd|' /C calc'!A0" : fields[0];
      const cost = fields.at(-2) as string;
      unpriced += Number(fields.at(-1));
      if (cost !== "") expect(cost).toMatch(/^\d+\.\d{9}$/);
      // Nine decimals: the digits are the nano-dollars, added as integers.
      byTeam.set(team, (byTeam.get(team) ?? 0) + Number(cost.replace(".", "")));
    }
    expect(unpriced).toBe(2);
    const costs = await fx().get(`/api/v1/costs?from=${NOV}&to=${DEC}&groupBy=team&step=86400`);
    expect(costs.status).toBe(200);
    for (const s of costs.body.series as { key: string; totalUsd: number }[]) {
      expect(byTeam.get(s.key), s.key).toBe(Math.round(s.totalUsd * 1e9));
    }
    expect(byTeam.size).toBe(costs.body.series.length);
    const total = [...byTeam.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(Math.round(costs.body.totalUsd * 1e9));
    const json = await fx().get("/api/v1/reports/chargeback?month=2023-11");
    expect(json.body.totalUsd).toBe(costs.body.totalUsd);
  });

  it("quotes names in CSV and defuses spreadsheet formulas", async () => {
    const csv = await (await fx().app.request("/api/v1/reports/chargeback?month=2023-11&format=csv")).text();
    const line = csv.split("\r\n").find((l) => l.includes("calc")) as string;
    expect(line.startsWith(`'=cmd|' /C calc'!A0,"a,""b""",gpt-4o,openai,1,`), line).toBe(true);
  });

  it("renders a printable HTML report per team with a chart, escaping names", async () => {
    const res = await fx().app.request("/api/v1/reports/chargeback?month=2023-11&format=html&team=red");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain("team red");
    expect(html).not.toContain("team blue");
    expect(html).toContain("<svg");
    expect(html).toContain('data-total="2.600123456"');
    expect(html).toContain("1 unpriced");
    const all = await (await fx().app.request("/api/v1/reports/chargeback?month=2023-11&format=html")).text();
    expect(all).toContain("a,&quot;b&quot;");
    expect(all).not.toContain('a,"b"');
    expect(all.match(/<section class="team">/g)?.length).toBe(3);
  });

  it("answers an empty month with no rows, and rejects bad input with 400", async () => {
    const empty = await fx().get("/api/v1/reports/chargeback?month=2024-02");
    expect(empty.body).toMatchObject({ month: "2024-02", rows: [], totalUsd: 0, unpricedCalls: 0 });
    for (const [q, name] of [
      ["", "month"],
      ["month=2023-13", "month"],
      ["month=2023-1", "month"],
      ["month=23-11", "month"],
      ["month=1969-12", "month"],
      ["month=2023-11-01", "month"],
      ["month=2023-11&format=pdf", "format"],
      ["month=2023-11&format=", "format"],
      ["month=2023-11&team=", "team"],
      ["month=2023-11&month=2023-12", "month"],
      ["month=2023-11&groupBy=team", "groupBy"],
    ]) {
      const { status, body } = await fx().get(`/api/v1/reports/chargeback?${q}`);
      expect(status, q).toBe(400);
      expect(body.error.message, q).toContain(name);
    }
  });

  it("binds the team filter: injection attempts match nothing", async () => {
    for (const bad of INJECTIONS) {
      const { status, body } = await fx().get(
        `/api/v1/reports/chargeback?month=2023-11&team=${encodeURIComponent(bad)}`,
      );
      expect(status, bad).toBe(200);
      expect(body.rows).toEqual([]);
    }
  });
});
