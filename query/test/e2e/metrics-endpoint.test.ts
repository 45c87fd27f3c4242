import { execFile } from "node:child_process";
import { processRegistry, silentLogger } from "@cognive/collector";
import { describe, expect, it } from "vitest";
import { missingService } from "../../../collector/test/support/services.ts";
import { createQueryApp } from "../../src/app.ts";
import { useTestServer } from "../helpers/server.ts";

/** Runs `promtool check metrics` (Prometheus's own linter of names and types) on an exposition. */
function promtoolCheck(exposition: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile("promtool", ["check", "metrics"], { encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? Number((err as { code?: unknown }).code) : 0;
      if (err && Number.isNaN(code)) reject(err);
      else resolve({ code, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(exposition);
  });
}

/** Metric name to its `# TYPE`, from a text exposition. */
function types(exposition: string): Map<string, string> {
  return new Map([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
}

describe("Prometheus /metrics of the query and collector ports", () => {
  const server = useTestServer();

  it("serves process metrics under their standard names, without a key, on the query port", async () => {
    const res = await fetch(`${server().queryUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    const t = types(text);
    expect(t.get("process_cpu_seconds_total")).toBe("counter");
    expect(t.get("nodejs_heap_size_used_bytes")).toBe("gauge");
    expect(text).not.toContain("cognive_process_");
  });

  it("names counters with _total and nothing else with it; promtool finds no problem", async () => {
    for (const url of [`${server().otlpUrl}/metrics`, `${server().queryUrl}/metrics`]) {
      const text = await (await fetch(url)).text();
      const t = types(text);
      expect(t.get("cognive_rate_limited_total"), url).toBe("counter");
      expect(t.get("cognive_alerts_raised_total"), url).toBe("counter");
      expect(t.get("cognive_budget_drift_corrected_usd_total"), url).toBe("counter");
      const misnamed = [...t].filter(([name, type]) => name.endsWith("_total") !== (type === "counter"));
      expect(misnamed, url).toEqual([]);
    }
  });

  it.skipIf(missingService("promtool"))("passes promtool check metrics", async () => {
    const text = await (await fetch(`${server().queryUrl}/metrics`)).text();
    const checked = await promtoolCheck(text);
    expect(checked.output).toBe("");
    expect(checked.code).toBe(0);
  });

  it("counts query requests by route pattern and status, never by the raw path", async () => {
    const q = server().queryUrl;
    expect((await fetch(`${q}/api/v1/traces/0123456789abcdef0123456789abcdef`)).status).toBe(404);
    const hostile = `/api/v1/x%22%7D%20evil_metric%201%0A${"a".repeat(500)}`;
    expect((await fetch(`${q}${hostile}`)).status).toBe(404);
    const text = await (await fetch(`${q}/metrics`)).text();
    expect(text).toMatch(
      /^cognive_query_requests_total\{method="GET",route="\/api\/v1\/traces\/:traceId",status="404"\} 1$/m,
    );
    expect(text).toMatch(/^cognive_query_requests_total\{method="other",route="unmatched",status="404"\} [1-9]\d*$/m);
    expect(text).not.toContain("0123456789abcdef");
    expect(text).not.toContain("evil_metric");
  });

  it("gives a query app its own registry when the process passes one", async () => {
    const registry = processRegistry();
    const app = createQueryApp({ storage: server().running.storage, log: silentLogger, metrics: registry });
    expect((await app.request("/healthz")).status).toBe(200);
    const text = await (await app.request("/metrics")).text();
    expect(text).toContain('cognive_query_requests_total{method="GET",route="/healthz",status="200"} 1');
    expect(types(text).get("process_resident_memory_bytes")).toBe("gauge");
  });
});
