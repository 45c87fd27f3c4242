import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../src/config.ts";
import { modelAllowed, toolApproved } from "../src/governance/resolve.ts";
import { resolveAgent, resolveTeam } from "../src/pipeline/processors.ts";
import { type AgentPolicy, compileGlob, loadPolicy, parsePolicy } from "../src/policy.ts";

const DEFAULT_FORECAST_ALERTS = { enabled: true, minHistoryDays: 7 };
const DEFAULT_ANOMALY_ALERTS = { enabled: true, windowMinutes: 15, baselineWeeks: 4, threshold: 6, minUsd: 1 };

const EXAMPLE = readFileSync(new URL("../../deploy/policy.example.yaml", import.meta.url), "utf8");

/** The ConfigError message parsePolicy throws for `text` (fails the test when it does not throw). */
function errorOf(text: string): string {
  try {
    parsePolicy(text, "test.yaml");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected a ConfigError for:\n${text}`);
}

const AGENT = (body: string) => `teams:\n  cx: {}\nagents:\n  refund-agent:\n${body}`;

describe("policy file: the shipped example", () => {
  const p = parsePolicy(EXAMPLE);

  it("has the teams with their budgets", () => {
    expect([...p.teams.keys()]).toEqual(["cx", "platform"]);
    expect(p.teams.get("cx")).toEqual({ budgets: { perRunUsd: null, dailyUsd: 100, monthlyUsd: 2000 } });
    expect(p.teams.get("platform")).toEqual({ budgets: { perRunUsd: null, dailyUsd: null, monthlyUsd: null } });
  });

  it("has the agent with team, globs, tools and budgets", () => {
    expect([...p.agents.keys()]).toEqual(["refund-agent"]);
    const a = p.agents.get("refund-agent") as AgentPolicy;
    expect(a.team).toBe("cx");
    expect(a.allowedModels?.map((g) => g.pattern)).toEqual(["gpt-4o*", "claude-sonnet-4*"]);
    expect(a.allowedModels?.every((g) => g.re instanceof RegExp)).toBe(true);
    expect(a.approvedTools).toEqual(new Set(["lookup_order", "issue_refund"]));
    expect(a.budgets).toEqual({ perRunUsd: 0.05, dailyUsd: 5, monthlyUsd: 50 });
  });

  it("has the alert thresholds and sinks", () => {
    expect(p.alerts.thresholds).toEqual([0.5, 0.8, 1.0]);
    expect(p.alerts.sinks).toEqual([
      { type: "webhook", url: "http://127.0.0.1:9999/hook", secret: "s3cret" },
      { type: "slack", url: "https://hooks.slack.com/services/T000/B000/XXXX" },
    ]);
  });

  it("keeps the price overrides", () => {
    expect(p.priceOverrides).toHaveLength(1);
    expect(p.priceOverrides[0]).toEqual({
      match: "^acme-ft-",
      provider: "openai",
      input_per_mtok: 3,
      output_per_mtok: 12,
      cache_read_per_mtok: 1.5,
      cache_write_per_mtok: 3.75,
      effective_from: "2026-01-01",
      effective_to: "2027-01-01",
    });
  });
});

describe("policy file: defaults", () => {
  it("an empty file is an empty policy with default thresholds", () => {
    for (const text of ["", "# only a comment\n", "---\n"]) {
      const p = parsePolicy(text);
      expect(p.teams.size).toBe(0);
      expect(p.agents.size).toBe(0);
      expect(p.alerts).toEqual({
        thresholds: [0.5, 0.8, 1.0],
        sinks: [],
        forecast: DEFAULT_FORECAST_ALERTS,
        anomaly: DEFAULT_ANOMALY_ALERTS,
      });
      expect(p.priceOverrides).toEqual([]);
    }
  });

  it("empty sections and bare names are allowed", () => {
    const p = parsePolicy("teams:\nagents:\n  bot:\nalerts:\n  sinks:\npricing:\n  overrides:\n");
    expect(p.teams.size).toBe(0);
    expect(p.agents.get("bot")).toEqual({
      team: null,
      allowedModels: null,
      approvedTools: null,
      budgets: { perRunUsd: null, dailyUsd: null, monthlyUsd: null },
    });
    expect(p.alerts).toEqual({
      thresholds: [0.5, 0.8, 1.0],
      sinks: [],
      forecast: DEFAULT_FORECAST_ALERTS,
      anomaly: DEFAULT_ANOMALY_ALERTS,
    });
    expect(p.priceOverrides).toEqual([]);
  });

  it("declared-but-empty lists are kept as empty (nothing allowed), not as absent", () => {
    const a = parsePolicy("agents:\n  bot: { allowed_models: [], approved_tools: [] }\n").agents.get("bot");
    expect(a?.allowedModels).toEqual([]);
    expect(a?.approvedTools).toEqual(new Set());
    expect(parsePolicy("alerts: { thresholds: [] }\n").alerts.thresholds).toEqual([]);
  });

  it("a webhook without a secret has secret null", () => {
    const p = parsePolicy("alerts:\n  sinks: [{ type: webhook, url: 'https://example.com/h' }]\n");
    expect(p.alerts.sinks).toEqual([{ type: "webhook", url: "https://example.com/h", secret: null }]);
  });
});

describe("policy file: mistakes name the file and the key path", () => {
  it("unknown keys at every level", () => {
    expect(errorOf("team: {}\n")).toBe("test.yaml: team: unknown key");
    expect(errorOf("teams:\n  cx: { budget: {} }\n")).toBe("test.yaml: teams.cx.budget: unknown key");
    expect(errorOf("teams:\n  cx: { budgets: { weekly_usd: 1 } }\n")).toBe(
      "test.yaml: teams.cx.budgets.weekly_usd: unknown key",
    );
    expect(errorOf(AGENT("    allowed_model: [x]\n"))).toBe(
      "test.yaml: agents.refund-agent.allowed_model: unknown key",
    );
    expect(errorOf(AGENT("    budgets: { daily: 1 }\n"))).toBe(
      "test.yaml: agents.refund-agent.budgets.daily: unknown key",
    );
    expect(errorOf("alerts: { threshold: [0.5] }\n")).toBe("test.yaml: alerts.threshold: unknown key");
    expect(errorOf("alerts:\n  sinks: [{ type: webhook, url: 'http://x.test/', secrt: a }]\n")).toBe(
      "test.yaml: alerts.sinks.0.secrt: unknown key",
    );
    expect(errorOf("alerts:\n  sinks: [{ type: slack, url: 'http://x.test/', secret: a }]\n")).toBe(
      "test.yaml: alerts.sinks.0.secret: unknown key",
    );
    expect(errorOf("pricing:\n  overides: []\n")).toBe("test.yaml: pricing.overides: unknown key");
    expect(errorOf("pricing:\n  overrides:\n    - { match: x, input_per_mtok: 1, output_per_mtok: 1, per: 1 }\n")).toBe(
      "test.yaml: pricing.overrides.0.per: unknown key",
    );
  });

  it("non-positive budgets", () => {
    expect(errorOf(AGENT("    budgets: { daily_usd: -5 }\n"))).toMatch(
      /^test\.yaml: agents\.refund-agent\.budgets\.daily_usd: must be a positive number$/,
    );
    expect(errorOf(AGENT("    budgets: { per_run_usd: 0 }\n"))).toMatch(
      /^test\.yaml: agents\.refund-agent\.budgets\.per_run_usd: must be a positive/,
    );
    expect(errorOf("teams:\n  cx: { budgets: { monthly_usd: -1 } }\n")).toMatch(
      /^test\.yaml: teams\.cx\.budgets\.monthly_usd: must be a positive/,
    );
    expect(errorOf("teams:\n  cx: { budgets: { monthly_usd: .inf } }\n")).toMatch(
      /^test\.yaml: teams\.cx\.budgets\.monthly_usd: /,
    );
  });

  it("an agent's team must be declared", () => {
    expect(errorOf("agents:\n  refund-agent: { team: cx }\n")).toBe(
      'test.yaml: agents.refund-agent.team: team "cx" is not declared under teams',
    );
    expect(errorOf("teams: { ops: {} }\nagents:\n  a: { team: ops }\n  b: { team: opz }\n")).toMatch(
      /^test\.yaml: agents\.b\.team: /,
    );
    // an inherited Object property is not a declared team
    expect(errorOf("teams: { ops: {} }\nagents:\n  a: { team: toString }\n")).toMatch(/agents\.a\.team: /);
  });

  it("sink URLs must be http(s) URLs; type must be known", () => {
    expect(errorOf("alerts:\n  sinks: [{ type: webhook, url: 'not a url' }]\n")).toBe(
      "test.yaml: alerts.sinks.0.url: must be an http(s) URL",
    );
    expect(
      errorOf("alerts:\n  sinks: [{ type: slack, url: 'http://ok.test/' }, { type: slack, url: 'ftp://x.test/' }]\n"),
    ).toBe("test.yaml: alerts.sinks.1.url: must be an http(s) URL");
    expect(errorOf("alerts:\n  sinks: [{ type: pager, url: 'http://x.test/' }]\n")).toMatch(
      /^test\.yaml: alerts\.sinks\.0\.type: /,
    );
    expect(errorOf("alerts:\n  sinks: [{ type: webhook, url: 'http://x.test/', secret: 42 }]\n")).toMatch(
      /^test\.yaml: alerts\.sinks\.0\.secret: .*expected string/,
    );
  });

  it("thresholds in (0, 10], sorted, unique", () => {
    expect(errorOf("alerts: { thresholds: [0, 0.5] }\n")).toMatch(
      /^test\.yaml: alerts\.thresholds\.0: must be greater than 0$/,
    );
    expect(errorOf("alerts: { thresholds: [0.5, 11] }\n")).toMatch(
      /^test\.yaml: alerts\.thresholds\.1: must be at most 10$/,
    );
    expect(errorOf("alerts: { thresholds: [0.8, 0.5] }\n")).toMatch(/^test\.yaml: alerts\.thresholds: must be sorted/);
    expect(errorOf("alerts: { thresholds: [0.5, 0.5] }\n")).toMatch(/^test\.yaml: alerts\.thresholds: .*duplicates/);
    expect(errorOf("alerts: { thresholds: [half] }\n")).toMatch(
      /^test\.yaml: alerts\.thresholds\.0: .*expected number/,
    );
    expect(parsePolicy("alerts: { thresholds: [0.25, 1, 10] }\n").alerts.thresholds).toEqual([0.25, 1, 10]);
  });

  it("forecast and anomaly alert settings: defaults, values, and mistakes named by key", () => {
    const p = parsePolicy(
      "alerts:\n  forecast: { enabled: false, min_history_days: 3 }\n  anomaly: { window_minutes: 10, baseline_weeks: 2, threshold: 4.5, min_usd: 0.5 }\n",
    );
    expect(p.alerts.forecast).toEqual({ enabled: false, minHistoryDays: 3 });
    expect(p.alerts.anomaly).toEqual({
      enabled: true,
      windowMinutes: 10,
      baselineWeeks: 2,
      threshold: 4.5,
      minUsd: 0.5,
    });
    expect(errorOf("alerts: { anomaly: { window_minutes: 7 } }\n")).toMatch(
      /^test\.yaml: alerts\.anomaly\.window_minutes: must divide an hour/,
    );
    expect(errorOf("alerts: { anomaly: { threshold: 0 } }\n")).toMatch(/^test\.yaml: alerts\.anomaly\.threshold: /);
    expect(errorOf("alerts: { anomaly: { min_usd: -1 } }\n")).toMatch(/^test\.yaml: alerts\.anomaly\.min_usd: /);
    expect(errorOf("alerts: { anomaly: { baseline_weeks: 100 } }\n")).toMatch(/alerts\.anomaly\.baseline_weeks: /);
    expect(errorOf("alerts: { forecast: { min_history_days: '3' } }\n")).toMatch(
      /^test\.yaml: alerts\.forecast\.min_history_days: .*expected number/,
    );
    expect(errorOf("alerts: { forecast: { confidence: 0.9 } }\n")).toBe(
      "test.yaml: alerts.forecast.confidence: unknown key",
    );
  });

  it("wrong types", () => {
    expect(errorOf("just a string\n")).toMatch(/^test\.yaml: \(root\): .*expected object/);
    expect(errorOf("teams: [cx]\n")).toMatch(/^test\.yaml: teams: .*expected record/);
    expect(errorOf("agents:\n  a: { allowed_models: gpt-4o }\n")).toMatch(
      /^test\.yaml: agents\.a\.allowed_models: .*expected array/,
    );
    expect(errorOf("agents:\n  a: { approved_tools: [1] }\n")).toMatch(
      /^test\.yaml: agents\.a\.approved_tools\.0: .*expected string/,
    );
    expect(errorOf(AGENT("    budgets: { daily_usd: '5' }\n"))).toMatch(
      /^test\.yaml: agents\.refund-agent\.budgets\.daily_usd: .*expected number/,
    );
    expect(errorOf("alerts: { sinks: { type: slack } }\n")).toMatch(/^test\.yaml: alerts\.sinks: .*expected array/);
  });

  it("empty names", () => {
    expect(errorOf("teams:\n  '': {}\n")).toMatch(/^test\.yaml: teams\."": /);
    expect(errorOf("agents:\n  a: { allowed_models: [''] }\n")).toMatch(
      /^test\.yaml: agents\.a\.allowed_models\.0: must not be empty$/,
    );
    expect(errorOf("agents:\n  a: { approved_tools: [''] }\n")).toMatch(
      /^test\.yaml: agents\.a\.approved_tools\.0: must not be empty$/,
    );
  });

  it("pricing overrides are still checked", () => {
    expect(errorOf("pricing:\n  overrides:\n    - { match: 'x', input_per_mtok: -1, output_per_mtok: 1 }\n")).toMatch(
      /^test\.yaml: pricing\.overrides\.0\.input_per_mtok: /,
    );
    expect(errorOf("pricing:\n  overrides:\n    - { match: '(', input_per_mtok: 1, output_per_mtok: 1 }\n")).toMatch(
      /^test\.yaml: pricing\.overrides\.0\.match: must be a valid regular expression$/,
    );
  });

  it("bad YAML", () => {
    expect(errorOf("pricing: [\n")).toMatch(/^test\.yaml: not valid YAML: /);
    expect(errorOf("teams:\n  cx: {}\n  cx: {}\n")).toMatch(/^test\.yaml: not valid YAML: /);
  });

  it("reports every mistake, not only the first", () => {
    const msg = errorOf("teams: { cx: { budgets: { daily_usd: -1 } } }\nalerts: { thresholds: [0] }\n");
    expect(msg).toContain("teams.cx.budgets.daily_usd: ");
    expect(msg).toContain("alerts.thresholds.0: ");
  });
});

describe("loadPolicy", () => {
  const dir = mkdtempSync(join(tmpdir(), "cognive-policy-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("no path is the empty policy", () => {
    const p = loadPolicy(undefined);
    expect(p.teams.size + p.agents.size + p.alerts.sinks.length + p.priceOverrides.length).toBe(0);
    expect(p.alerts.thresholds).toEqual([0.5, 0.8, 1.0]);
  });

  it("reads a file, and names it in errors", () => {
    const good = join(dir, "good.yaml");
    writeFileSync(good, EXAMPLE);
    expect(loadPolicy(good).agents.get("refund-agent")?.team).toBe("cx");
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "agents:\n  x: { budgets: { daily_usd: -1 } }\n");
    expect(() => loadPolicy(bad)).toThrow(ConfigError);
    expect(() => loadPolicy(bad)).toThrow(`${bad}: agents.x.budgets.daily_usd: `);
    expect(() => loadPolicy(join(dir, "missing.yaml"))).toThrow(/^COGNIVE_POLICY: cannot read .*missing\.yaml/);
  });
});

describe("globs", () => {
  const m = (pattern: string, s: string) => compileGlob(pattern).test(s);

  it("are anchored at both ends", () => {
    expect(m("gpt-4o*", "gpt-4o")).toBe(true);
    expect(m("gpt-4o*", "gpt-4o-mini-2024-07-18")).toBe(true);
    expect(m("gpt-4o*", "xgpt-4o")).toBe(false);
    expect(m("gpt-4o", "gpt-4o-mini")).toBe(false);
    expect(m("*-mini", "gpt-4o-mini")).toBe(true);
    expect(m("*-mini", "gpt-4o-mini-x")).toBe(false);
  });

  it("? is exactly one character, * any run including none", () => {
    expect(m("gpt-?o", "gpt-4o")).toBe(true);
    expect(m("gpt-?o", "gpt-o")).toBe(false);
    expect(m("gpt-?o", "gpt-45o")).toBe(false);
    expect(m("a*b*c", "abc")).toBe(true);
    expect(m("a*b*c", "a-x-b-y-c")).toBe(true);
    expect(m("a*b*c", "a-x-c")).toBe(false);
    expect(m("*", "")).toBe(true);
  });

  it("are case-sensitive", () => {
    expect(m("gpt-4o*", "GPT-4o")).toBe(false);
  });

  it("treat regex metacharacters literally", () => {
    expect(m("gpt-4.1", "gpt-4.1")).toBe(true);
    expect(m("gpt-4.1", "gpt-441")).toBe(false);
    expect(m("a+b", "a+b")).toBe(true);
    expect(m("a+b", "aab")).toBe(false);
    expect(m("(x|y)", "x")).toBe(false);
    expect(m("(x|y)", "(x|y)")).toBe(true);
    expect(m("[ab]", "a")).toBe(false);
    expect(m("[ab]", "[ab]")).toBe(true);
    expect(m("^x$", "^x$")).toBe(true);
    expect(m("a\\d", "a\\d")).toBe(true);
    expect(m("a\\d", "a1")).toBe(false);
    expect(m("{2}/-", "{2}/-")).toBe(true);
  });

  it("are compiled once, into the policy", () => {
    const a = parsePolicy("agents:\n  a: { allowed_models: ['claude-*'] }\n").agents.get("a");
    expect(a?.allowedModels?.[0].re.source).toBe(compileGlob("claude-*").source);
  });
});

describe("resolveAgent", () => {
  const all = { spanAgent: "span", traceInvokeAgent: "trace", resourceAgent: "resource", serviceName: "service" };

  it("falls back span → trace invoke_agent → resource → service.name → empty", () => {
    expect(resolveAgent(all)).toBe("span");
    expect(resolveAgent({ ...all, spanAgent: "" })).toBe("trace");
    expect(resolveAgent({ ...all, spanAgent: undefined, traceInvokeAgent: null })).toBe("resource");
    expect(resolveAgent({ serviceName: "service", resourceAgent: "" })).toBe("service");
    expect(resolveAgent({ spanAgent: "", traceInvokeAgent: "", resourceAgent: "", serviceName: "" })).toBe("");
    expect(resolveAgent({})).toBe("");
  });
});

describe("resolveTeam", () => {
  const policy = parsePolicy("teams: { cx: {}, ops: {} }\nagents:\n  refund-agent: { team: cx }\n  loose: {}\n");

  it("the ingest key's team always wins", () => {
    expect(resolveTeam("refund-agent", policy, "res-team", "ops")).toBe("ops");
    expect(resolveTeam("unknown", policy, "res-team", "ops")).toBe("ops");
  });

  it("else the policy's team for the agent", () => {
    expect(resolveTeam("refund-agent", policy, "res-team", "")).toBe("cx");
    expect(resolveTeam("refund-agent", policy, "res-team", undefined)).toBe("cx");
  });

  it("else the resource's cognive.team, else empty", () => {
    expect(resolveTeam("loose", policy, "res-team", null)).toBe("res-team");
    expect(resolveTeam("unknown", policy, "res-team")).toBe("res-team");
    expect(resolveTeam("unknown", policy, "", "")).toBe("");
    expect(resolveTeam("loose", policy)).toBe("");
  });
});

describe("modelAllowed", () => {
  const p = parsePolicy(EXAMPLE);
  const agent = p.agents.get("refund-agent");
  const noModels = parsePolicy("agents:\n  a: {}\n").agents.get("a");
  const none = parsePolicy("agents:\n  a: { allowed_models: [] }\n").agents.get("a");

  it("allows everything when not declared", () => {
    expect(modelAllowed(undefined, "anything", undefined)).toBe(true);
    expect(modelAllowed(noModels, "anything", "else")).toBe(true);
  });

  it("allows when the request or the response model matches", () => {
    expect(modelAllowed(agent, "gpt-4o", undefined)).toBe(true);
    expect(modelAllowed(agent, undefined, "claude-sonnet-4-20250514")).toBe(true);
    expect(modelAllowed(agent, "gpt-4o", "gpt-4o-2024-08-06")).toBe(true);
    expect(modelAllowed(agent, "my-alias", "gpt-4o-2024-08-06")).toBe(true);
    expect(modelAllowed(agent, "gpt-4o", "some-other")).toBe(true);
  });

  it("refuses when neither matches, or no model is known", () => {
    expect(modelAllowed(agent, "gpt-4.1", "gpt-4.1-2025-04-14")).toBe(false);
    expect(modelAllowed(agent, "claude-opus-4", undefined)).toBe(false);
    expect(modelAllowed(agent, "", "")).toBe(false);
    expect(modelAllowed(agent, undefined, undefined)).toBe(false);
    expect(modelAllowed(none, "gpt-4o", "gpt-4o")).toBe(false);
  });
});

describe("toolApproved", () => {
  const agent = parsePolicy(EXAMPLE).agents.get("refund-agent");
  const noTools = parsePolicy("agents:\n  a: {}\n").agents.get("a");

  it("approves everything when not declared", () => {
    expect(toolApproved(undefined, "rm_rf")).toBe(true);
    expect(toolApproved(noTools, "rm_rf")).toBe(true);
  });

  it("else exact membership", () => {
    expect(toolApproved(agent, "lookup_order")).toBe(true);
    expect(toolApproved(agent, "issue_refund")).toBe(true);
    expect(toolApproved(agent, "delete_order")).toBe(false);
    expect(toolApproved(agent, "Lookup_Order")).toBe(false);
    expect(toolApproved(agent, "")).toBe(false);
  });
});
