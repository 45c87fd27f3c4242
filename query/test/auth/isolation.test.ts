import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey, silentLogger } from "@cognive/collector";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GRPC_ROUTES, ROUTE_PERMISSIONS } from "../../src/api/permissions.ts";
import { createQueryApp } from "../../src/app.ts";
import { agentRunBody } from "../helpers/agent-run.ts";
import { postRaw } from "../helpers/http.ts";
import { grpcReadRequests, readRequests as readExamples, requestInit } from "../helpers/read-routes.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { streamingClient } from "../helpers/tempo-grpc.ts";
import { TWO_TEAMS_POLICY } from "../helpers/two-teams.ts";

/**
 * Two teams' data behind keys: every route of the query app, taken from its route table, is called
 * with each role, and a viewer of team alpha must see nothing of team bravo anywhere.
 */
const ADMIN = generateKey().key;
const BRAVO_MARKERS = ["svc-bravo", "bravo-agent", "gpt-4o-mini", "bravo"];
const now = () => Math.floor(Date.now() / 1000);

const dir = mkdtempSync(join(tmpdir(), "cognive-isolation-"));
writeFileSync(join(dir, "policy.yaml"), TWO_TEAMS_POLICY);

let server: TestServer;
const keys: Record<string, string> = {};
const traces = { alpha: randomBytes(16).toString("hex"), bravo: randomBytes(16).toString("hex") };

/** Waits until the in-process collector has counted and alerted everything it accepted. */
function idle(): Promise<void> {
  const gov = server.running.governance;
  if (!gov) throw new Error("the test server runs no governance");
  return gov.governance.idle();
}

async function api(path: string, key: string | null, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (key) headers.set("authorization", `Bearer ${key}`);
  return fetch(`${server.queryUrl}${path}`, { ...init, headers });
}

// Both teams' runs share one conversation id: a viewer of one team sees only its own turns of it.
const spans = (traceId: string, service: string, agent: string, model: string, claimedTeam: string) =>
  agentRunBody({
    traceId,
    service,
    agent,
    model,
    claimedTeam,
    error: true,
    conversationId: "conv-shared",
    userId: `user-${agent}`,
  });
/** Every read route's example, reading team alpha's trace and the shared conversation. */
const readRequests = () =>
  readExamples({ traceId: traces.alpha, sessionId: "conv-shared", userId: "user-alpha-agent" });

/** A request to any declared route, with its parameters filled in. */
function anyRequest(route: string): { method: string; path: string } {
  const [method, pattern] = route.split(" ");
  const path = pattern
    .replace(":traceId", traces.alpha)
    .replace(":tag", "service.name")
    .replace(":name", "team")
    .replace(":id", "key_nothing");
  return { method, path };
}

beforeAll(async () => {
  server = await startTestServer({
    COGNIVE_AUTH: "required",
    COGNIVE_ADMIN_KEY: ADMIN,
    COGNIVE_POLICY: join(dir, "policy.yaml"),
  });
  const create = async (name: string, role: string, teams: string[] | "all", extra = {}) => {
    const res = await api("/api/v1/keys", ADMIN, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name, role, teams, ...extra }),
    });
    expect(res.status).toBe(201);
    const body = await res.json();
    keys[name] = body.key;
    return body;
  };
  await create("ingest-alpha", "ingest", ["alpha"]);
  await create("ingest-bravo", "ingest", ["bravo"]);
  await create("viewer-alpha", "viewer", ["alpha"]);
  await create("viewer-all", "viewer", "all");
  const send = (key: string, body: Buffer) =>
    postRaw(`${server.otlpUrl}/v1/traces`, body, {
      "content-type": "application/json",
      authorization: `Bearer ${key}`,
    });
  expect(
    (await send(keys["ingest-alpha"], spans(traces.alpha, "svc-alpha", "alpha-agent", "gpt-4o", "alpha"))).status,
  ).toBe(200);
  // Team bravo's ingest key claims team alpha in its resource: the key wins.
  expect(
    (await send(keys["ingest-bravo"], spans(traces.bravo, "svc-bravo", "bravo-agent", "gpt-4o-mini", "alpha"))).status,
  ).toBe(200);
  // OTLP metrics of each team, served through the Prometheus API beside the span-derived series.
  for (const team of ["alpha", "bravo"]) {
    const metric = {
      resourceMetrics: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: `svc-${team}` } }] },
          scopeMetrics: [
            {
              metrics: [
                {
                  name: "example.requests",
                  sum: {
                    isMonotonic: true,
                    aggregationTemporality: 1,
                    dataPoints: [
                      {
                        timeUnixNano: `${now()}000000000`,
                        asInt: "3",
                        attributes: [{ key: "team.marker", value: { stringValue: team } }],
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await postRaw(`${server.otlpUrl}/v1/metrics`, Buffer.from(JSON.stringify(metric)), {
      "content-type": "application/json",
      authorization: `Bearer ${keys[`ingest-${team}`]}`,
    });
    expect(res.status).toBe(200);
  }
  await idle();
}, 60_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("the route table", () => {
  it("declares a permission for every route of the query app, and no route that does not exist", () => {
    const app = createQueryApp({ storage: server.running.storage, log: silentLogger });
    const routes = new Set(app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path}`));
    expect([...routes].filter((r) => !(r in ROUTE_PERMISSIONS))).toEqual([]);
    expect(Object.keys(ROUTE_PERMISSIONS).filter((r) => !routes.has(r))).toEqual([]);
    // Every route that reads tenant data has an example request in the isolation test below.
    const reads = Object.entries(ROUTE_PERMISSIONS)
      .filter(([, p]) => p === "read")
      .map(([r]) => r);
    expect(reads.filter((r) => !(r in readRequests()))).toEqual([]);
    // Every streaming gRPC method answers through a read route, and has an example call below.
    for (const [method, route] of Object.entries(GRPC_ROUTES)) expect(ROUTE_PERMISSIONS[route], method).toBe("read");
    expect(Object.keys(GRPC_ROUTES).map((m) => m.split("/").at(-1))).toEqual(Object.keys(grpcReadRequests()));
  });
});

describe("keys and roles", () => {
  it("answers 401 without a key, or with an unknown or malformed one, on every route but probes and static files", async () => {
    for (const [route, permission] of Object.entries(ROUTE_PERMISSIONS)) {
      const { method, path } = anyRequest(route);
      for (const key of [null, generateKey().key, "cgv_nope", "not-a-key"]) {
        const res = await api(path, key, { method });
        if (permission === "open") expect(res.status, `${route} is open`).not.toBe(401);
        else {
          expect(res.status, `${route} with ${key}`).toBe(401);
          const body = await res.json();
          // The same words for every failure: nothing tells whether a key exists.
          expect(body.error.code).toBe("unauthorized");
          expect(JSON.stringify(body)).not.toContain("cgv_");
        }
      }
    }
    const otlp = await postRaw(`${server.otlpUrl}/v1/traces`, Buffer.from("{}"), {
      "content-type": "application/json",
    });
    expect(otlp.status).toBe(401);
  }, 30_000);

  it("refuses every streaming gRPC call without a valid key, or from an ingest key", async () => {
    const client = streamingClient(server.queryUrl);
    try {
      for (const [method, ex] of Object.entries(grpcReadRequests())) {
        for (const key of [null, generateKey().key, "not-a-key"]) {
          const answer = await client.call(method, ex.requests[0], key ? { authorization: `Bearer ${key}` } : {});
          expect(answer.code, `${method} with ${key}`).toBe(grpc.status.UNAUTHENTICATED);
          expect(answer.details).not.toContain("cgv_");
        }
        const ingest = await client.call(method, ex.requests[0], { authorization: `Bearer ${keys["ingest-alpha"]}` });
        expect(ingest.code, method).toBe(grpc.status.PERMISSION_DENIED);
      }
    } finally {
      client.close();
    }
  }, 30_000);

  it("refuses a role what it may not do with 403", async () => {
    for (const [route, permission] of Object.entries(ROUTE_PERMISSIONS)) {
      const { method, path } = anyRequest(route);
      if (permission === "read" || permission === "admin") {
        expect((await api(path, keys["ingest-alpha"], { method })).status, `${route} as ingest`).toBe(403);
      }
      if (permission === "admin") {
        expect((await api(path, keys["viewer-all"], { method })).status, `${route} as viewer`).toBe(403);
      }
    }
    const otlp = await postRaw(`${server.otlpUrl}/v1/traces`, Buffer.from("{}"), {
      "content-type": "application/json",
      authorization: `Bearer ${keys["viewer-all"]}`,
    });
    expect(otlp.status).toBe(403);
  }, 30_000);

  it("refuses oversized headers (a key-stuffing attempt) with 431 before any route runs", async () => {
    const { request } = await import("node:http");
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.queryUrl}/api/v1/whoami`, {
        headers: { authorization: `Bearer ${"A".repeat(20_000)}` },
      });
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(431);
  });

  it("accepts the key as the password of HTTP Basic, as Grafana sends it", async () => {
    const basic = Buffer.from(`grafana:${keys["viewer-alpha"]}`).toString("base64");
    const res = await fetch(`${server.queryUrl}/api/v1/whoami`, { headers: { authorization: `Basic ${basic}` } });
    expect(await res.json()).toMatchObject({ name: "viewer-alpha", role: "viewer", teams: ["alpha"] });
  });
});

describe("team isolation", () => {
  it("stores an ingest key's spans as its team whatever the resource claims", async () => {
    const listed = async (team: string) =>
      (await (await api(`/api/v1/traces?team=${team}`, keys["viewer-all"])).json()).traces.map(
        (t: { traceId: string }) => t.traceId,
      );
    expect(await listed("bravo")).toContain(traces.bravo);
    expect(await listed("alpha")).not.toContain(traces.bravo);
    expect(await listed("alpha")).toContain(traces.alpha);
  });

  it("shows a team-alpha viewer nothing of team bravo through any read route", async () => {
    for (const [route, ex] of Object.entries(readRequests())) {
      for (const path of ex.paths) {
        const init = requestInit(route, ex);
        const mine = await api(path, keys["viewer-alpha"], init);
        const text = await mine.text();
        expect(mine.status, `${route} ${path}: ${text.slice(0, 300)}`).toBe(200);
        for (const marker of BRAVO_MARKERS) expect(text, `${route} ${path} shows ${marker}`).not.toContain(marker);
        if (ex.carries) {
          // The same request with every team in view does show bravo: the check above is not vacuous.
          const all = await (await api(path, keys["viewer-all"], init)).text();
          expect(
            BRAVO_MARKERS.some((m) => all.includes(m)),
            `${route} ${path} as viewer-all: ${all.slice(0, 300)}`,
          ).toBe(true);
        }
      }
    }
  }, 60_000);

  it("shows a team-alpha viewer nothing of team bravo through any streaming gRPC method", async () => {
    const client = streamingClient(server.queryUrl);
    // As Grafana sends it: the key as Basic's password, its org header and user agent.
    const grafana = (key: string) => ({
      authorization: `Basic ${Buffer.from(`grafana:${key}`).toString("base64")}`,
      "x-scope-orgid": "bravo",
      "user-agent": "Grafana/12.1.0",
    });
    try {
      for (const [method, ex] of Object.entries(grpcReadRequests())) {
        for (const request of ex.requests) {
          const mine = await client.call(method, request, grafana(keys["viewer-alpha"]));
          const text = JSON.stringify(mine.messages);
          expect(mine.code, `${method} ${JSON.stringify(request)}: ${mine.details}`).toBe(grpc.status.OK);
          for (const marker of BRAVO_MARKERS) expect(text, `${method} shows ${marker}`).not.toContain(marker);
          if (ex.carries) {
            const all = JSON.stringify((await client.call(method, request, grafana(keys["viewer-all"]))).messages);
            expect(
              BRAVO_MARKERS.some((m) => all.includes(m)),
              `${method} as viewer-all: ${all.slice(0, 300)}`,
            ).toBe(true);
          }
        }
      }
    } finally {
      client.close();
    }
  }, 60_000);

  it("counts only the viewer's team's calls in costs without a team dimension", async () => {
    for (const g of ["provider", "environment"]) {
      const path = `/api/v1/costs?groupBy=${g}&from=${now() - 3600}`;
      const calls = async (key: string) =>
        (await (await api(path, key)).json()).series.reduce((n: number, s: { calls: number }) => n + s.calls, 0);
      expect(await calls(keys["viewer-alpha"])).toBe(1);
      expect(await calls(keys["viewer-all"])).toBeGreaterThanOrEqual(2);
    }
  });

  it("answers 404 for another team's trace through the native and both Tempo trace endpoints", async () => {
    for (const path of [
      `/api/v1/traces/${traces.bravo}`,
      `/api/traces/${traces.bravo}`,
      `/api/v2/traces/${traces.bravo}`,
    ]) {
      expect((await api(path, keys["viewer-alpha"])).status, path).toBe(404);
      expect((await api(path, keys["viewer-all"])).status, path).toBe(200);
    }
  });

  it("answers budget-check for another team's agent as if it did not exist", async () => {
    expect((await api("/api/v1/budget-check?agent=bravo-agent", keys["ingest-alpha"])).status).toBe(404);
    expect((await api("/api/v1/budget-check?agent=bravo-agent", keys["viewer-alpha"])).status).toBe(404);
    expect((await api("/api/v1/budget-check?agent=alpha-agent", keys["ingest-alpha"])).status).toBe(200);
    expect((await api("/api/v1/budget-check?agent=bravo-agent", keys["ingest-bravo"])).status).toBe(200);
  });

  it("streams only the viewer's team's alerts", async () => {
    const read = async (key: string, signal: AbortSignal) => {
      const res = await api("/api/v1/alerts/stream", key, { signal });
      expect(res.status).toBe(200);
      let text = "";
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          text += Buffer.from(value).toString();
        }
      } catch {
        /* aborted */
      }
      return text;
    };
    const stop = new AbortController();
    const alpha = read(keys["viewer-alpha"], stop.signal);
    const all = read(keys["viewer-all"], stop.signal);
    await new Promise((r) => setTimeout(r, 300));
    // bravo-agent may only call gpt-4o: this call raises a policy alert for team bravo.
    const trace = randomBytes(16).toString("hex");
    await postRaw(`${server.otlpUrl}/v1/traces`, spans(trace, "svc-bravo", "bravo-agent", "gpt-4o-mini", "bravo"), {
      "content-type": "application/json",
      authorization: `Bearer ${keys["ingest-bravo"]}`,
    });
    await idle();
    await new Promise((r) => setTimeout(r, 500));
    stop.abort();
    const [alphaText, allText] = await Promise.all([alpha, all]);
    expect(allText).toContain(trace);
    expect(alphaText).not.toContain(trace);
    expect(alphaText).not.toContain("bravo");
  }, 30_000);
});

describe("revocation, expiry and rate limits", () => {
  it("refuses a revoked key at once", async () => {
    const created = await (
      await api("/api/v1/keys", ADMIN, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "temp", role: "viewer", teams: ["alpha"] }),
      })
    ).json();
    expect((await api("/api/v1/whoami", created.key)).status).toBe(200);
    expect((await api(`/api/v1/keys/${created.id}`, ADMIN, { method: "DELETE" })).status).toBe(204);
    expect((await api("/api/v1/whoami", created.key)).status).toBe(401);
    const listed = await (await api("/api/v1/keys", ADMIN)).json();
    const row = listed.keys.find((k: { id: string }) => k.id === created.id);
    expect(row.revokedAt).not.toBeNull();
    expect(JSON.stringify(listed)).not.toContain(created.key);
  });

  it("answers a 5 req/s key bursting 40 requests with 429 and Retry-After", async () => {
    const created = await (
      await api("/api/v1/keys", ADMIN, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "slow", role: "viewer", teams: ["alpha"], rateLimit: { requestsPerSecond: 5 } }),
      })
    ).json();
    const answers = await Promise.all(Array.from({ length: 40 }, () => api("/api/v1/whoami", created.key)));
    const limited = answers.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(30);
    expect(answers.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(5);
    expect(Number(limited[0].headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const metrics = await (await fetch(`${server.otlpUrl}/metrics`)).text();
    const counted = Number(/cognive_rate_limited_total\{kind="requests"\} (\d+)/.exec(metrics)?.[1]);
    expect(counted).toBeGreaterThanOrEqual(limited.length);
  });

  it("refuses keys that cannot be made: an ingest key of two teams, a form post, an expiry in the past", async () => {
    const post = (body: string, type = "application/json") =>
      api("/api/v1/keys", ADMIN, { method: "POST", headers: { "content-type": type }, body });
    expect((await post(JSON.stringify({ name: "x", role: "ingest", teams: ["alpha", "bravo"] }))).status).toBe(400);
    expect((await post(JSON.stringify({ name: "x", role: "ingest", teams: "all" }))).status).toBe(400);
    expect((await post("name=x&role=admin&teams=all", "application/x-www-form-urlencoded")).status).toBe(415);
    expect(
      (await post(JSON.stringify({ name: "x", role: "viewer", teams: ["alpha"], expiresAt: "2001-01-01T00:00:00Z" })))
        .status,
    ).toBe(400);
    expect((await post(JSON.stringify({ name: "x", role: "root", teams: "all" }))).status).toBe(400);
    expect((await post("{not json")).status).toBe(400);
  });
});

describe("audit log", () => {
  it("records the admin actions in order on a valid chain, and verification names an edited entry", async () => {
    const res = await api(`/api/v1/audit?from=${now() - 3600}`, ADMIN);
    expect(res.status).toBe(200);
    const { entries } = await res.json();
    const actions = entries.map((e: { action: string }) => e.action);
    expect(actions.slice(0, 2)).toEqual(["config.start", "policy.load"]);
    const creates = entries.filter((e: { action: string }) => e.action === "key.create");
    expect(creates.slice(0, 4).map((e: { details: { name: string } }) => e.details.name)).toEqual([
      "ingest-alpha",
      "ingest-bravo",
      "viewer-alpha",
      "viewer-all",
    ]);
    expect(actions).toContain("key.revoke");
    const keyActions = entries.filter((e: { action: string }) => e.action.startsWith("key."));
    expect(keyActions.every((e: { actor: { name: string } }) => e.actor.name === "COGNIVE_ADMIN_KEY")).toBe(true);
    // The burst of bad keys sent by the 401 test is on record, with where it came from.
    const failures = entries.find((e: { action: string }) => e.action === "auth.failures");
    expect(failures?.source).toMatch(/127\.0\.0\.1/);
    expect(await (await api("/api/v1/audit/verify", ADMIN)).json()).toMatchObject({ ok: true });
    expect(JSON.stringify(entries)).not.toContain(ADMIN);

    const victim = creates[1];
    await server.running.storage.client.command({
      query: `ALTER TABLE cognive.audit_log UPDATE Details = '{"name":"someone-else"}' WHERE Id = '${victim.id}' SETTINGS mutations_sync = 2`,
    });
    const broken = await (await api("/api/v1/audit/verify", ADMIN)).json();
    expect(broken.ok).toBe(false);
    expect(broken.broken).toMatchObject({ id: victim.id, reason: expect.stringMatching(/edited/) });
  });
});
