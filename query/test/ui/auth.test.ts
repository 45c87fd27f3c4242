import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey } from "@cognive/collector";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatCost } from "../../../ui/src/format.ts";
import { agentRunBody } from "../helpers/agent-run.ts";
import { postRaw } from "../helpers/http.ts";
import { freePort, spawnCognive, stopProcess } from "../helpers/process.ts";
import { launchChromium, missingChromium, screenshot, watchErrors } from "./browser.ts";

const ROOT = new URL("../../..", import.meta.url).pathname;
const ADMIN = generateKey().key;

/** The UI with keys required: the sign-in screen, one team's view of two teams' data, sign-out, embeds with `token`. */
describe.skipIf(missingChromium())("the UI when keys are required", () => {
  const dir = mkdtempSync(join(tmpdir(), "cognive-ui-auth-"));
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  let base = "";
  let embedPort = 0;
  const keys: Record<string, string> = {};
  const traces = { alpha: randomBytes(16).toString("hex"), bravo: randomBytes(16).toString("hex") };

  const api = async (path: string, key: string, init: RequestInit = {}) => {
    const res = await fetch(`${base}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...init.headers },
    });
    return { status: res.status, body: await res.json() };
  };

  const run = (traceId: string, service: string, agent: string, inputTokens: number) =>
    agentRunBody({ traceId, service, agent, model: "gpt-4o", inputTokens });

  beforeAll(async () => {
    writeFileSync(
      join(dir, "policy.yaml"),
      "teams:\n  alpha: {}\n  bravo: {}\nagents:\n  alpha-agent: { team: alpha }\n  bravo-agent: { team: bravo }\n",
    );
    const ports = { otlp: await freePort(), query: await freePort() };
    embedPort = await freePort();
    server = await spawnCognive({
      COGNIVE_DATA_DIR: join(dir, "data"),
      COGNIVE_OTLP_PORT: String(ports.otlp),
      COGNIVE_PORT: String(ports.query),
      COGNIVE_POLICY: join(dir, "policy.yaml"),
      COGNIVE_AUTH: "required",
      COGNIVE_ADMIN_KEY: ADMIN,
      COGNIVE_CORS_ORIGINS: `http://127.0.0.1:${embedPort}`,
    });
    base = `http://127.0.0.1:${ports.query}`;
    for (const [name, role, teams] of [
      ["ingest-alpha", "ingest", ["alpha"]],
      ["ingest-bravo", "ingest", ["bravo"]],
      ["viewer-alpha", "viewer", ["alpha"]],
    ] as const) {
      const r = await api("/api/v1/keys", ADMIN, { method: "POST", body: JSON.stringify({ name, role, teams }) });
      keys[name] = r.body.key;
    }
    const send = (key: string, body: Buffer) =>
      postRaw(`http://127.0.0.1:${ports.otlp}/v1/traces`, body, {
        "content-type": "application/json",
        authorization: `Bearer ${key}`,
      });
    expect((await send(keys["ingest-alpha"], run(traces.alpha, "svc-alpha", "alpha-agent", 1000))).status).toBe(200);
    expect((await send(keys["ingest-bravo"], run(traces.bravo, "svc-bravo", "bravo-agent", 90_000))).status).toBe(200);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (server) await stopProcess(server);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });

  it("asks for a key, refuses a wrong one, shows one team's data once signed in, keeps the tab signed in, and signs out", async () => {
    const page = await (browser as Browser).newPage({ viewport: { width: 1360, height: 900 } });
    const errors = watchErrors(page);
    try {
      await page.goto(`${base}/`);
      const form = page.locator("cognive-app form.sign-in");
      await form.waitFor();
      await screenshot(page, "sign-in");
      await page.locator("cognive-app #key").fill(generateKey().key);
      await page.locator("cognive-app form.sign-in button[type=submit]").click();
      await expect.poll(() => page.locator("cognive-app .sign-in-error").count()).toBe(1);

      await page.locator("cognive-app #key").fill(keys["viewer-alpha"]);
      await page.locator("cognive-app form.sign-in button[type=submit]").click();
      const today = page.locator('cognive-app [data-stat="today"]');
      await today.waitFor();
      expect(await page.locator("cognive-app .who").textContent()).toMatch(/viewer-alpha\s*·\s*viewer\s*·\s*alpha/);
      // The overview counts team alpha's spend only, as the API does for this key.
      const alpha = await api("/api/v1/overview", keys["viewer-alpha"]);
      const all = await api("/api/v1/overview", ADMIN);
      expect(alpha.body.spend.todayUsd).toBeLessThan(all.body.spend.todayUsd);
      expect(await today.textContent()).toBe(formatCost(alpha.body.spend.todayUsd));
      await screenshot(page, "signed-in-overview");

      await page.goto(`${base}/#/traces`);
      const rows = page.locator("cognive-trace-list tbody tr");
      await rows.first().waitFor();
      const shown = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-trace-id")));
      expect(shown).toContain(traces.alpha);
      expect(shown).not.toContain(traces.bravo);
      expect(await page.locator("cognive-app").textContent()).not.toContain("bravo");

      await page.goto(`${base}/#/costs?groupBy=team`);
      await page.locator("cognive-cost-chart canvas").first().waitFor();
      const legend = await page.locator("cognive-cost-chart").evaluate((el) => el.shadowRoot?.textContent ?? "");
      expect(legend).toContain("alpha");
      expect(legend).not.toContain("bravo");

      // Reloading keeps the tab signed in; signing out forgets the key.
      await page.reload();
      await page.locator("cognive-app .who").waitFor();
      await page.locator("cognive-app .sign-out").click();
      await form.waitFor();
      expect(await page.evaluate(() => sessionStorage.getItem("cognive.key"))).toBeNull();
      await page.reload();
      await form.waitFor();
      // Only the deliberate wrong key answered 401.
      expect(errors.filter((e) => !e.includes("401"))).toEqual([]);
    } finally {
      await page.close();
    }
  }, 90_000);

  it("runs the embeddable parts with a token attribute from another origin", async () => {
    const html = readFileSync(join(ROOT, "ui/examples/embed.html"), "utf8").replace(
      /<(cognive-[a-z-]+)(\s)/g,
      `<$1 token="${keys["viewer-alpha"]}"$2`,
    );
    const statics: Server = createServer((req, res) => {
      if (req.url?.startsWith("/embed.html")) {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(html);
      } else if (req.url === "/favicon.ico") res.writeHead(204).end();
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => statics.listen(embedPort, "127.0.0.1", resolve));
    const page = await (browser as Browser).newPage({ viewport: { width: 1360, height: 900 } });
    const errors = watchErrors(page);
    try {
      await page.goto(`http://127.0.0.1:${embedPort}/embed.html?api=${encodeURIComponent(base)}`);
      const rows = page.locator("cognive-trace-list tbody tr");
      await rows.first().waitFor({ timeout: 15_000 });
      const shown = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-trace-id")));
      expect(shown).toEqual([traces.alpha]);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await new Promise((r) => statics.close(r));
    }
  }, 60_000);

  it("keeps a page of an origin not allowed from reading the API, with or without a key", async () => {
    const other = await freePort();
    const statics: Server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<!doctype html><title>elsewhere</title>");
    });
    await new Promise<void>((resolve) => statics.listen(other, "127.0.0.1", resolve));
    const page = await (browser as Browser).newPage();
    try {
      await page.goto(`http://127.0.0.1:${other}/`);
      const outcome = await page.evaluate(
        async ({ url, key }) => {
          const tries = [
            fetch(url).then((r) => r.text()),
            fetch(url, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.text()),
          ];
          return Promise.all(tries.map((t) => t.then((text) => `read: ${text.slice(0, 40)}`).catch(() => "blocked")));
        },
        { url: `${base}/api/v1/traces`, key: keys["viewer-alpha"] },
      );
      expect(outcome).toEqual(["blocked", "blocked"]);
    } finally {
      await page.close();
      await new Promise((r) => statics.close(r));
    }
  });
});
