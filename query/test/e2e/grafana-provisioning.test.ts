import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const DEPLOY = new URL("../../../deploy/grafana/", import.meta.url);

describe("Grafana provisioning", () => {
  it("provisions the built-in Tempo (streaming off) and Prometheus data sources at the query API", () => {
    const doc = parse(readFileSync(new URL("provisioning/datasources/cognive.yaml", DEPLOY), "utf8"));
    const byType = Object.fromEntries(doc.datasources.map((d: any) => [d.type, d]));
    expect(Object.keys(byType).sort()).toEqual(["prometheus", "tempo"]);
    expect(byType.tempo.jsonData.streamingEnabled).toEqual({ search: false, metrics: false });
    expect(byType.tempo.url).toBe(byType.prometheus.url);
    expect(byType.prometheus.uid).toBe("cognive-prometheus");
  });

  it("has a dashboard whose panels all query the provisioned Prometheus data source", () => {
    const dash = JSON.parse(readFileSync(new URL("dashboards/cognive-llm-cost.json", DEPLOY), "utf8"));
    expect(dash.title).toBe("Cognive — LLM cost & usage");
    expect(dash.panels.length).toBeGreaterThanOrEqual(8);
    for (const p of dash.panels) {
      expect(p.datasource.uid, p.title).toBe("cognive-prometheus");
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) {
        expect(t.expr, p.title).toMatch(
          /cognive_[a-z_]+_total|cognive_budget_utilization_ratio|gen_ai_client_[a-z_]+_(bucket|sum|count)/,
        );
      }
    }
    const titles = dash.panels.map((p: any) => p.title);
    for (const t of [
      "Spend by model",
      "Spend by agent",
      "Spend by team",
      "Tokens by type",
      "Error rate",
      "Latency p95 by model",
      "Budget utilization",
    ]) {
      expect(titles).toContain(t);
    }
  });
});
