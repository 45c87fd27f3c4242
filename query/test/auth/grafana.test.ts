import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { generateKey } from "@cognive/collector";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { missingService } from "../../../collector/test/support/services.ts";
import { postRaw } from "../helpers/http.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const ADMIN = generateKey().key;
const DEPLOY = new URL("../../../deploy/grafana/", import.meta.url);
const dir = mkdtempSync(join(tmpdir(), "cognive-grafana-auth-"));
let server: TestServer;
let viewer = "";
const traceId = randomBytes(16).toString("hex");

beforeAll(async () => {
  server = await startTestServer({ COGNIVE_AUTH: "required", COGNIVE_ADMIN_KEY: ADMIN });
  const created = await fetch(`${server.queryUrl}/api/v1/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "grafana", role: "viewer", teams: "all" }),
  });
  viewer = (await created.json()).key;
  const t = BigInt(Date.now() - 120_000) * 1_000_000n;
  const body = {
    resourceSpans: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: "grafana-auth" } }] },
        scopeSpans: [
          {
            spans: [
              {
                traceId,
                spanId: "00000000000000c1",
                name: "chat gpt-4o",
                kind: 3,
                startTimeUnixNano: String(t),
                endTimeUnixNano: String(t + 900_000_000n),
                attributes: [
                  { key: "gen_ai.operation.name", value: { stringValue: "chat" } },
                  { key: "gen_ai.provider.name", value: { stringValue: "openai" } },
                  { key: "gen_ai.request.model", value: { stringValue: "gpt-4o" } },
                  { key: "gen_ai.usage.input_tokens", value: { intValue: "1000" } },
                  { key: "gen_ai.usage.output_tokens", value: { intValue: "100" } },
                ],
              },
            ],
          },
        ],
      },
    ],
  };
  const res = await postRaw(`${server.otlpUrl}/v1/traces`, Buffer.from(JSON.stringify(body)), {
    "content-type": "application/json",
    authorization: `Bearer ${ADMIN}`,
  });
  expect(res.status).toBe(200);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The calls Grafana's Tempo and Prometheus data sources make: health checks, search, tags, trace, metrics, panels. */
function grafanaCalls(): { method: string; path: string; body?: string }[] {
  const now = Math.floor(Date.now() / 1000);
  const range = `start=${now - 3600}&end=${now + 60}`;
  const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
  const dashboard = JSON.parse(readFileSync(new URL("dashboards/cognive-llm-cost.json", DEPLOY), "utf8"));
  const exprs: string[] = JSON.stringify(dashboard.panels)
    .match(/"expr":"((?:[^"\\]|\\.)*)"/g)
    ?.map((m) => JSON.parse(m.slice(7))) as string[];
  return [
    { method: "GET", path: "/api/echo" },
    { method: "GET", path: "/api/status/buildinfo" },
    { method: "GET", path: `/api/search?q=${encodeURIComponent("{}")}&${range}&limit=20` },
    { method: "GET", path: `/api/v2/search/tags?scope=span&${range}` },
    { method: "GET", path: `/api/v2/search/tag/resource.service.name/values?${range}` },
    { method: "GET", path: `/api/v2/traces/${traceId}` },
    { method: "GET", path: `/api/traces/${traceId}` },
    { method: "POST", path: "/api/v1/query", body: form({ query: "1+1", time: String(now) }) },
    { method: "GET", path: "/api/v1/status/buildinfo" },
    { method: "GET", path: "/api/v1/labels" },
    { method: "GET", path: "/api/v1/label/__name__/values" },
    { method: "GET", path: "/api/v1/metadata" },
    ...exprs.map((expr) => ({
      method: "POST",
      path: "/api/v1/query_range",
      body: form({
        query: expr
          .replaceAll("$team", ".*")
          .replaceAll("$agent", ".*")
          .replaceAll("$__range", "3600s")
          .replaceAll("$__rate_interval", "1m0s"),
        start: String(now - 3600),
        end: String(now),
        step: "60",
      }),
    })),
  ];
}

describe("Grafana's data sources with a key", () => {
  it("provisions both data sources to send the key as an encrypted Authorization header", () => {
    const doc = parse(readFileSync(new URL("provisioning/datasources/cognive.yaml", DEPLOY), "utf8"));
    for (const ds of doc.datasources) {
      expect(ds.jsonData.httpHeaderName1, ds.name).toBe("Authorization");
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own ${VAR} substitution, not a template
      expect(ds.secureJsonData.httpHeaderValue1, ds.name).toBe("Bearer ${COGNIVE_GRAFANA_KEY}");
    }
  });

  it("answers every replayed call with Basic auth and with a bearer header, and none without", async () => {
    const schemes = {
      basic: `Basic ${Buffer.from(`grafana:${viewer}`).toString("base64")}`,
      bearer: `Bearer ${viewer}`,
    };
    const calls = grafanaCalls();
    expect(calls.length).toBeGreaterThan(15);
    for (const call of calls) {
      const init = (authorization?: string): RequestInit => ({
        method: call.method,
        body: call.body,
        headers: {
          ...(authorization ? { authorization } : {}),
          ...(call.body ? { "content-type": "application/x-www-form-urlencoded" } : {}),
        },
      });
      for (const [scheme, header] of Object.entries(schemes)) {
        const res = await fetch(`${server.queryUrl}${call.path}`, init(header));
        expect(res.status, `${scheme} ${call.method} ${call.path}: ${(await res.text()).slice(0, 200)}`).toBe(200);
      }
      const open = call.path === "/api/echo" || call.path.endsWith("/status/buildinfo");
      const none = await fetch(`${server.queryUrl}${call.path}`, init());
      expect(none.status, `${call.method} ${call.path} without a key`).toBe(open ? 200 : 401);
    }
  }, 30_000);
});

describe.skipIf(missingService("promtool"))("promtool with a key", () => {
  it("queries with the key as the basic-auth password in the server URL, and is refused without", async () => {
    // Newer promtool also takes --http.config.file (authorization: { credentials: <key> }); Debian's
    // 2.42 has only the URL's user info, which Go's HTTP client sends as Basic auth.
    const run = (args: string[]) => promisify(execFile)("promtool", args, { encoding: "utf8", timeout: 30_000 });
    const url = new URL(server.queryUrl);
    url.username = "promtool";
    url.password = viewer;
    const { stdout } = await run([
      "query",
      "instant",
      url.toString().replace(/\/$/, ""),
      "sum(cognive_llm_calls_total)",
    ]);
    expect(stdout).toMatch(/=> 1 @/);
    await expect(run(["query", "instant", server.queryUrl, "sum(cognive_llm_calls_total)"])).rejects.toThrow(
      /401|unauthorized|api key/i,
    );
  });
});
