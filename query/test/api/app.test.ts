import { gunzipSync } from "node:zlib";
import type { Logger } from "@cognive/collector";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createQueryApp, MAX_BODY_BYTES } from "../../src/app.ts";
import { type Fixture, openFixture, sec, traceId } from "./fixture.ts";

const logged: { msg: string; fields?: Record<string, unknown> }[] = [];
const capture: Logger = {
  debug() {},
  info() {},
  warn() {},
  error: (msg, fields) => logged.push({ msg, fields }),
};

let fx: Fixture;
beforeAll(async () => {
  fx = await openFixture(capture);
  await fx.insert([{ TraceId: traceId(1), SpanId: "s1", startNs: sec(1_750_000_000), SpanName: "one" }]);
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

describe("query app", () => {
  it.each(["/nothing", "/api/v1", "/api/v1/nothing", "/api/v2/traces", "/api/v1/traces/a/b"])(
    "answers JSON 404 for the unknown route %s",
    async (path) => {
      const res = await fx.app.request(path);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toContain("application/json");
      const body = await res.json();
      expect(body).toEqual({ error: { code: "not_found", message: expect.any(String) } });
    },
  );

  it("serves the app page at / (the UI), loading the bundle and <cognive-app>", async () => {
    const res = await fx.app.request("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const page = await res.text();
    expect(page).toContain('<script type="module" src="/ui/cognive-ui.js"></script>');
    expect(page).toContain("<cognive-app></cognive-app>");
    // Scripts only from this server, never framed, no sniffing (the Chromium tests run under this policy).
    expect(res.headers.get("content-security-policy")).toMatch(/script-src 'self';/);
    expect(res.headers.get("content-security-policy")).toMatch(/frame-ancestors 'none'/);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("serves the UI bundle gzipped or plain, with an ETag that answers 304", async () => {
    const gz = await fx.app.request("/ui/cognive-ui.js", { headers: { "accept-encoding": "gzip, br" } });
    expect(gz.status).toBe(200);
    expect(gz.headers.get("content-type")).toContain("text/javascript");
    expect(gz.headers.get("content-encoding")).toBe("gzip");
    const etag = gz.headers.get("etag");
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    const js = gunzipSync(Buffer.from(await gz.arrayBuffer())).toString("utf8");
    for (const tag of ["cognive-app", "cognive-trace-view", "cognive-cost-chart", "cognive-alert-feed"]) {
      expect(js).toContain(tag);
    }
    const plain = await fx.app.request("/ui/cognive-ui.js");
    expect(plain.headers.get("content-encoding")).toBeNull();
    expect(await plain.text()).toBe(js);
    const again = await fx.app.request("/ui/cognive-ui.js", { headers: { "if-none-match": etag ?? "" } });
    expect(again.status).toBe(304);
  }, 60_000);

  it("lets pages of the configured origins call the API with a bearer token (CORS), without cookies, and no others", async () => {
    const app = createQueryApp({ storage: fx.storage, log: capture, corsOrigins: ["https://portal.example"] });
    const preflight = (origin: string) =>
      app.request("/api/v1/traces", {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "GET",
          "access-control-request-headers": "authorization",
        },
      });
    const pre = await preflight("https://portal.example");
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://portal.example");
    expect(pre.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    expect(pre.headers.get("access-control-allow-credentials")).toBeNull();
    const get = await app.request("/api/v1/traces", { headers: { origin: "https://portal.example" } });
    expect(get.headers.get("access-control-allow-origin")).toBe("https://portal.example");
    // Any other page: no CORS grant, so its browser keeps the answer from it.
    const evil = await app.request("/api/v1/traces", { headers: { origin: "https://evil.example" } });
    expect(evil.headers.get("access-control-allow-origin")).toBeNull();
    expect((await preflight("https://evil.example")).headers.get("access-control-allow-origin")).toBeNull();
    // Without configured origins there is no wildcard either.
    const none = await fx.app.request("/api/v1/traces", { headers: { origin: "https://portal.example" } });
    expect(none.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("answers health and readiness with storage reachable", async () => {
    expect((await fx.app.request("/healthz")).status).toBe(200);
    const ready = await fx.app.request("/readyz");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready" });
  });

  it("answers JSON 404 for a method the API does not serve", async () => {
    const res = await fx.app.request(`/api/v1/traces/${traceId(1)}`, { method: "DELETE" });
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe("not_found");
    expect((await fx.get(`/api/v1/traces/${traceId(1)}`)).status).toBe(200);
  });

  it("refuses a request body over the limit with JSON 413", async () => {
    const res = await fx.app.request("/api/v1/traces", {
      method: "POST",
      body: "x".repeat(MAX_BODY_BYTES + 1),
      headers: { "content-type": "text/plain" },
    });
    expect(res.status).toBe(413);
    expect((await res.json()).error.code).toBe("payload_too_large");
  });

  it("refuses an overlong URL with JSON 414", async () => {
    const res = await fx.app.request(`/api/v1/traces?service=${"a".repeat(10_000)}`);
    expect(res.status).toBe(414);
    expect((await res.json()).error.code).toBe("uri_too_long");
  });

  it("answers a storage failure with a bare 500 and logs the cause", async () => {
    // Same store, but a database that does not exist: every read fails inside ClickHouse.
    const broken = createQueryApp({ storage: { ...fx.storage, database: "no_such_db" }, log: capture });
    logged.length = 0;
    for (const path of [`/api/v1/traces/${traceId(1)}`, "/api/v1/traces", "/api/v1/costs"]) {
      const res = await broken.request(path);
      expect(res.status, path).toBe(500);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({ error: { code: "internal", message: "internal error" } });
      expect(text).not.toMatch(/SELECT|no_such_db|otel_traces|trace_summary|llm_rollup/i);
    }
    expect(logged).toHaveLength(3);
    expect(String((logged[0].fields?.err as Error)?.message)).toMatch(/no_such_db/);
  });

  it("never puts an invalid database name into SQL", async () => {
    const bad = createQueryApp({ storage: { ...fx.storage, database: "cognive; DROP TABLE x" }, log: capture });
    const res = await bad.request("/api/v1/traces");
    expect(res.status).toBe(500);
    expect(await fx.count("otel_traces")).toBe(1);
  });

  it("serves an OpenAPI 3.1 document that lists every endpoint and parameter", async () => {
    const res = await fx.app.request("/api/v1/openapi.json");
    expect(res.status).toBe(200);
    const doc = JSON.parse(await res.text());
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/agents",
      "/alerts",
      "/alerts/stream",
      "/audit",
      "/audit/verify",
      "/budget-check",
      "/budgets",
      "/costs",
      "/forecast",
      "/keys",
      "/keys/{id}",
      "/openapi.json",
      "/overview",
      "/reports/chargeback",
      "/sessions",
      "/sessions/{id}",
      "/traces",
      "/traces/{traceId}",
      "/whoami",
    ]);
    // Every native route of the app is described (the Prometheus API under /api/v1 has its own docs).
    const { ROUTE_PERMISSIONS } = await import("../../src/api/permissions.ts");
    const described = new Set(
      Object.entries(doc.paths).flatMap(([p, ops]) =>
        Object.keys(ops as object).map((m) => `${m.toUpperCase()} /api/v1${p.replace(/\{(\w+)\}/g, ":$1")}`),
      ),
    );
    const prometheus =
      /^(GET|POST) \/api\/v1\/(query|query_range|labels|label|series|metadata|query_exemplars|rules|status)/;
    const native = Object.keys(ROUTE_PERMISSIONS).filter((r) => r.includes(" /api/v1/") && !prometheus.test(r));
    expect(native.filter((r) => !described.has(r))).toEqual([]);
    expect(doc.components.securitySchemes.bearer.scheme).toBe("bearer");
    expect(doc.paths["/keys"].post.requestBody.content["application/json"].schema.properties.role.enum).toEqual([
      "ingest",
      "viewer",
      "admin",
    ]);
    const names = (p: string) => doc.paths[p].get.parameters.map((x: any) => x.name).sort();
    expect(names("/forecast")).toEqual(["at", "groupBy", "month"]);
    expect(names("/traces")).toEqual(
      [
        "from",
        "to",
        "service",
        "agent",
        "team",
        "model",
        "user",
        "status",
        "minDurationMs",
        "maxDurationMs",
        "minCostUsd",
        "limit",
        "cursor",
      ].sort(),
    );
    expect(names("/costs")).toEqual(["from", "groupBy", "step", "to"]);
    expect(names("/traces/{traceId}")).toEqual(["traceId"]);
    expect(names("/overview")).toEqual(["from", "to", "top"]);
    expect(names("/sessions")).toEqual(["agent", "cursor", "from", "limit", "team", "to", "user"]);
    expect(names("/reports/chargeback")).toEqual(["format", "month", "team"]);
    const groupBy = doc.paths["/costs"].get.parameters.find((x: any) => x.name === "groupBy");
    expect(groupBy.schema.enum).toEqual(["model", "agent", "team", "provider", "environment"]);
    expect(groupBy.required).toBe(false);
    expect(doc.paths["/traces/{traceId}"].get.responses["404"]).toBeDefined();
    expect(doc.components.schemas.Error.properties.error.required).toEqual(["code", "message"]);
  });
});
