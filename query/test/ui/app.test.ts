import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { groupAlerts, normalizeAlert } from "../../../ui/src/alert-data.ts";
import { formatCost, formatPercent } from "../../../ui/src/format.ts";
import { freePort, runDemo, spawnCognive, stopProcess } from "../helpers/process.ts";
import { getJson } from "../helpers/server.ts";
import { launchChromium, missingChromium, screenshot, syntheticTrace, watchErrors } from "./browser.ts";

const ROOT = new URL("../../..", import.meta.url).pathname;

/**
 * The UI end to end: a real `cognive start` filled by the demo workload, and Debian's Chromium
 * driving the app page at `/`, the embeddable parts on a page of another origin, and a synthetic
 * 5,000-span trace. Screenshots of every view go to test-artifacts/ui/.
 */
describe.skipIf(missingChromium())("the UI in Chromium", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "cognive-ui-"));
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  let base = "";
  let api = "";
  let embedPort = 0;
  let overspender = "";

  beforeAll(async () => {
    const ports = { otlp: await freePort(), query: await freePort() };
    // The embedding page's origin is allowed, as a portal's would be.
    embedPort = await freePort();
    server = await spawnCognive({
      COGNIVE_DATA_DIR: dataDir,
      COGNIVE_OTLP_PORT: String(ports.otlp),
      COGNIVE_PORT: String(ports.query),
      COGNIVE_POLICY: join(ROOT, "demo/policy.yaml"),
      COGNIVE_CORS_ORIGINS: `http://127.0.0.1:${embedPort}`,
    });
    base = `http://127.0.0.1:${ports.query}`;
    api = `${base}/api/v1`;
    const demo = runDemo({ otlpUrl: `http://127.0.0.1:${ports.otlp}`, apiUrl: base }, { DEMO_RUNS: "30" }, 120_000);
    if (demo.status !== 0) throw new Error(`demo failed (${demo.status}): ${demo.stderr}`);
    overspender = /the overspender: \S+#\/traces\/([0-9a-f]{32})/.exec(demo.stdout)?.[1] ?? "";
    browser = await launchChromium();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    if (server) await stopProcess(server);
    rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 });
  }, 60_000);

  /** The head of a page that loads the parts; the empty icon keeps Chromium from asking for /favicon.ico. */
  const head = () =>
    `<!doctype html><html><head><link rel="icon" href="data:,">` +
    `<script type="module" src="${base}/ui/cognive-ui.js"></script></head>`;

  /** A fresh page at a phone-or-desktop size that records its console errors. */
  async function open(
    path: string,
    viewport = { width: 1360, height: 900 },
  ): Promise<{ page: Page; errors: string[] }> {
    if (!browser) throw new Error("Chromium did not start");
    const page = await browser.newPage({ viewport });
    const errors = watchErrors(page);
    await page.goto(`${base}${path}`);
    return { page, errors };
  }

  it("loads the app at / without console errors and shows today's spend as the API counts it", async () => {
    const { page, errors } = await open("/");
    try {
      const today = page.locator('cognive-app [data-stat="today"]');
      await today.waitFor();
      const overview = (await getJson(`${api}/overview`)).body;
      expect(overview.spend.todayUsd).toBeGreaterThan(0);
      expect(await today.textContent()).toBe(formatCost(overview.spend.todayUsd));
      expect(await page.locator('cognive-app [data-stat="month"]').textContent()).toBe(
        formatCost(overview.spend.monthUsd),
      );
      expect(await page.locator('cognive-app [data-stat="runs"]').textContent()).toBe(
        overview.runs.toLocaleString("en-US"),
      );
      // Two error rates, each named: runs with a failed span, and failed model calls.
      expect(await page.locator('cognive-app [data-stat="errors"]').textContent()).toBe(
        formatPercent(overview.errorRate),
      );
      expect(await page.locator('cognive-app [data-stat="llm-errors"]').textContent()).toBe(
        formatPercent(overview.llm.errors / overview.llm.calls),
      );
      // The demo's three agents, by spend.
      const agents = page.locator('cognive-app table[aria-label="Top agents by spend"] tbody tr');
      await expect.poll(() => agents.count()).toBe(overview.topAgents.length);
      expect(await page.locator("cognive-app nav a[aria-current=page]").textContent()).toBe("Overview");
      await page.locator("cognive-cost-chart canvas").first().waitFor({ timeout: 15_000 });
      await screenshot(page, "overview");
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it("opens a trace's waterfall from the trace list with the API's span count and cost", async () => {
    const { page, errors } = await open("/#/traces");
    try {
      const rows = page.locator("cognive-trace-list tbody tr");
      await rows.first().waitFor();
      const list = (await getJson(`${api}/traces?limit=50`)).body;
      expect(await rows.count()).toBe(list.traces.length);
      await screenshot(page, "traces");

      // The trace with the most spans, opened from the keyboard: focus its link and press Enter.
      const target = [...list.traces].sort((a: any, b: any) => b.spanCount - a.spanCount)[0];
      const link = page.locator(`cognive-trace-list tr[data-trace-id="${target.traceId}"] a.open`);
      await link.focus();
      await page.keyboard.press("Enter");
      await page.waitForURL(`**/#/traces/${target.traceId}`);

      const detail = (await getJson(`${api}/traces/${target.traceId}`)).body;
      const view = page.locator("cognive-trace-view");
      await view.locator('[data-stat="spans"]').waitFor();
      expect(await view.locator('[data-stat="spans"]').textContent()).toBe(String(detail.spans.length));
      expect(await view.locator('[data-stat="cost"]').textContent()).toBe(formatCost(detail.summary.costUsd));
      // Small traces fit in the viewport: every span has its row, nested under its parent.
      const spanRows = view.locator("[role=row][data-span-id]");
      await expect.poll(() => spanRows.count()).toBe(detail.spans.length);
      const root = detail.spans.find((s: any) => s.parentSpanId === "");
      expect(await spanRows.first().getAttribute("data-span-id")).toBe(root.spanId);
      expect(await spanRows.first().getAttribute("aria-level")).toBe("1");

      // A model call shows its model and cost; selecting it shows its details.
      const call = detail.spans.find((s: any) => s.genAi.usageRole === "model_call" && s.genAi.costUsd !== null);
      const callRow = view.locator(`[role=row][data-span-id="${call.spanId}"]`);
      expect(await callRow.textContent()).toContain(call.genAi.responseModel ?? call.genAi.requestModel);
      expect(await callRow.textContent()).toContain(formatCost(call.genAi.costUsd));
      await callRow.click();
      expect(await callRow.getAttribute("aria-selected")).toBe("true");
      const details = view.locator("[part=details]");
      expect(await details.locator("h3").textContent()).toBe(call.name);
      expect(await details.textContent()).toContain(String(call.genAi.inputTokens));
      // The selection is part of the link: reloading it selects the same span.
      await page.waitForURL(`**/#/traces/${target.traceId}?span=${call.spanId}`);
      await page.reload();
      await view.locator(`[role=row][data-span-id="${call.spanId}"][aria-selected="true"]`).waitFor();
      expect(await view.locator("[part=details] h3").textContent()).toBe(call.name);

      // Collapsing the root hides every other row; expanding brings them back.
      await view.locator("[role=row]").nth(1).locator("button.toggle").click();
      await expect.poll(() => spanRows.count()).toBe(1);
      await view.locator("[role=row]").nth(1).locator("button.toggle").click();
      await expect.poll(() => spanRows.count()).toBe(detail.spans.length);
      await screenshot(page, "trace");
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it("says on the overspending run that the budget guard stopped it, with the alerts it raised", async () => {
    expect(overspender).toMatch(/^[0-9a-f]{32}$/);
    const from = Math.floor(Date.now() / 1000) - 86_400;
    const raised = (await getJson(`${api}/alerts?traceId=${overspender}&from=${from}`)).body.alerts;
    expect(raised.length).toBeGreaterThan(0);
    const { page, errors } = await open(`/#/traces/${overspender}`);
    try {
      const view = page.locator("cognive-trace-view");
      await view.locator("[data-guard=stopped]").waitFor();
      // The run's alerts load after the trace itself.
      await expect.poll(() => view.locator("[part=run-alerts] li[data-alert-id]").count()).toBe(raised.length);
      await screenshot(page, "trace-guard-stopped");
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it("shows a failed span's status message in the waterfall of an error trace", async () => {
    const errorsList = (await getJson(`${api}/traces?status=error&limit=1`)).body;
    expect(errorsList.traces.length).toBe(1);
    const id = errorsList.traces[0].traceId;
    const detail = (await getJson(`${api}/traces/${id}`)).body;
    const failed = detail.spans.find((s: any) => s.status.code === "error");
    const { page, errors } = await open(`/#/traces/${id}`);
    try {
      const row = page.locator(`cognive-trace-view [role=row][data-span-id="${failed.spanId}"]`);
      await row.waitFor();
      expect(await row.getAttribute("part")).toContain("row-error");
      await row.click();
      const msg = page.locator("cognive-trace-view [part=details] .status-msg");
      expect(await msg.textContent()).toContain(failed.status.message);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it("pages the trace list through the API's cursor, and back", async () => {
    const { page, errors } = await open("/");
    try {
      await page.setContent(
        `${head()}` +
          `<body><cognive-trace-list api-base="${base}" limit="3" hide-filters></cognive-trace-list></body></html>`,
      );
      // The demo dates most runs in past days: the last 24 hours hold a few, enough for pages of 3.
      const first = (await getJson(`${api}/traces?limit=3`)).body;
      expect(first.nextCursor).not.toBeNull();
      const second = (await getJson(`${api}/traces?limit=3&cursor=${first.nextCursor}`)).body;
      const ids = () =>
        page
          .locator("cognive-trace-list tbody tr")
          .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-trace-id")));
      await expect.poll(ids).toEqual(first.traces.map((t: any) => t.traceId));
      const newer = page.locator("cognive-trace-list button", { hasText: "Newer" });
      expect(await newer.isDisabled()).toBe(true);
      await page.locator("cognive-trace-list button", { hasText: "Next page" }).click();
      await expect.poll(ids).toEqual(second.traces.map((t: any) => t.traceId));
      await newer.click();
      await expect.poll(ids).toEqual(first.traces.map((t: any) => t.traceId));
      // Without href-template, choosing a row fires cognive-trace-select with its trace id.
      const chosen = page.evaluate(
        () =>
          new Promise<string>((resolve) =>
            document.addEventListener("cognive-trace-select", (e) => resolve((e as CustomEvent).detail.traceId)),
          ),
      );
      await page.locator("cognive-trace-list tbody tr").nth(2).locator("td").nth(3).click();
      expect(await chosen).toBe(first.traces[2].traceId);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it("says what is wrong when a trace does not exist or Cognive cannot be reached", async () => {
    const { page } = await open("/");
    try {
      await page.setContent(
        `${head()}<body>` +
          `<cognive-trace-view api-base="${base}" trace-id="${"f".repeat(32)}"></cognive-trace-view>` +
          `<cognive-trace-list api-base="http://127.0.0.1:9"></cognive-trace-list></body></html>`,
      );
      const missing = page.locator("cognive-trace-view [role=alert]");
      await missing.waitFor();
      expect(await missing.textContent()).toContain(`trace ${"f".repeat(32)} not found`);
      const down = page.locator("cognive-trace-list [role=alert]");
      await down.waitFor();
      expect(await down.textContent()).toContain("Cannot reach Cognive at http://127.0.0.1:9");
    } finally {
      await page.close();
    }
  }, 60_000);

  it("draws the costs view's chart on a canvas with one legend entry per series the API returns", async () => {
    const { page, errors } = await open("/#/costs?groupBy=agent&range=24h");
    try {
      await page.waitForFunction(() => customElements.get("cognive-cost-chart") !== undefined, null, {
        timeout: 10_000,
      });
      const chart = page.locator("cognive-cost-chart");
      await chart.locator("canvas").first().waitFor({ timeout: 15_000 });
      const box = await chart.locator("canvas").first().boundingBox();
      expect(box?.width ?? 0).toBeGreaterThan(100);
      const costs = (await getJson(`${api}/costs?groupBy=agent`)).body;
      expect(costs.series.length).toBe(3);
      // uPlot's legend: the time column, one row per series, and the total.
      await expect.poll(() => chart.locator(".u-legend .u-series").count()).toBe(costs.series.length + 2);
      expect(await page.locator("cognive-app select[aria-label='Group costs by']").inputValue()).toBe("agent");
      await page.locator("cognive-token-chart canvas").first().waitFor({ timeout: 15_000 });
      await screenshot(page, "costs");
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it("shows the agents, a gauge for every budgeted scope, and the alerts", async () => {
    const { page, errors } = await open("/#/agents");
    try {
      await page.locator("cognive-agent-table table tbody tr").first().waitFor({ timeout: 15_000 });
      await screenshot(page, "agents");

      // Choosing an agent opens its traces.
      await page.locator('cognive-agent-table tr[data-agent="refund-agent"] button.agent').click();
      await page.waitForURL("**/#/traces?agent=refund-agent");
      const theirs = (await getJson(`${api}/traces?agent=refund-agent`)).body.traces;
      expect(theirs.length).toBeGreaterThan(0);
      const traceIds = () =>
        page
          .locator("cognive-trace-list tbody tr")
          .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-trace-id")));
      await expect.poll(traceIds).toEqual(theirs.map((t: any) => t.traceId));

      await page.locator("cognive-app nav a", { hasText: "Budgets" }).click();
      await page.waitForURL("**/#/budgets");
      const budgets = (await getJson(`${api}/budgets`)).body.budgets;
      const scopes = new Set(budgets.map((b: any) => `${b.scope.type}:${b.scope.name}`));
      expect(scopes.size).toBeGreaterThan(0);
      const gauges = page.locator("cognive-budget-gauge");
      await expect.poll(() => gauges.count()).toBe(scopes.size);
      const shown = await gauges.evaluateAll((els) => els.map((e) => e.getAttribute("scope")));
      expect(new Set(shown)).toEqual(scopes);
      await page.waitForTimeout(500);
      await screenshot(page, "budgets");

      await page.locator("cognive-app nav a", { hasText: "Alerts" }).click();
      await page.waitForURL("**/#/alerts");
      const from = Math.floor(Date.now() / 1000) - 30 * 86_400;
      const stored = (await getJson(`${api}/alerts?limit=500&from=${from}`)).body.alerts;
      expect(stored.length).toBeGreaterThan(0);
      // Repeats fold into one row each: one row per group, every alert in the page.
      const groups = groupAlerts(stored.map(normalizeAlert).filter((a: unknown) => a !== null));
      const feed = page.locator("cognive-alert-feed li[data-id]");
      await expect.poll(() => feed.count(), { timeout: 15_000 }).toBe(groups.length);
      expect(await feed.first().getAttribute("data-id")).toBe(stored[0].id);
      await page.waitForTimeout(500);
      await screenshot(page, "alerts");

      // An alert's trace opens in the waterfall.
      const withTrace = groups.map((g) => g.latest).find((a) => a.traceId) as { id: string; traceId: string };
      await page.locator(`cognive-alert-feed li[data-id="${withTrace.id}"] > .meta a`).click();
      await page.waitForURL(`**/#/traces/${withTrace.traceId}`);
      await page.locator("cognive-trace-view [role=row][data-span-id]").first().waitFor();
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it("follows the system's dark mode", async () => {
    if (!browser) throw new Error("Chromium did not start");
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 }, colorScheme: "dark" });
    const errors = watchErrors(page);
    try {
      const list = (await getJson(`${api}/traces?status=error&limit=1`)).body;
      await page.goto(`${base}/#/traces/${list.traces[0].traceId}`);
      await page.locator("cognive-trace-view [role=row][data-span-id]").first().waitFor();
      const bg = (sel: string) =>
        page.locator(sel).evaluate((el) => getComputedStyle(el).getPropertyValue("--_bg").trim());
      expect(await bg("cognive-app")).toBe("#0d1117");
      expect(await bg("cognive-trace-view")).toBe("#0d1117");
      await page.emulateMedia({ colorScheme: "light" });
      expect(await bg("cognive-app")).toBe("#ffffff");
      await page.emulateMedia({ colorScheme: "dark" });
      await screenshot(page, "trace-dark");
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it("works on a phone: the nav folds behind a menu button", async () => {
    const { page, errors } = await open("/#/overview", { width: 390, height: 844 });
    try {
      const menu = page.locator("cognive-app button.menu");
      await menu.waitFor();
      const traces = page.locator("cognive-app nav a", { hasText: "Traces" });
      expect(await traces.isVisible()).toBe(false);
      await menu.click();
      expect(await menu.getAttribute("aria-expanded")).toBe("true");
      await traces.click();
      await page.waitForURL("**/#/traces");
      await page.locator("cognive-trace-list tbody tr").first().waitFor();
      // The list fits the screen: secondary columns give way, the status column stays in view.
      const status = page.locator("cognive-trace-list thead th", { hasText: "Status" });
      const box = await status.boundingBox();
      expect(box && box.x + box.width).toBeLessThanOrEqual(390);
      expect(await page.locator("cognive-trace-list thead th", { hasText: "Tokens" }).isVisible()).toBe(false);
      await screenshot(page, "phone-traces");

      // So does the agent table: policy, observed models and daily spend give way to violations.
      await page.goto(`${base}/#/agents`);
      await page.locator("cognive-agent-table tbody tr").first().waitFor();
      const violations = await page.locator("cognive-agent-table thead th", { hasText: "Violations" }).boundingBox();
      expect(violations && violations.x + violations.width).toBeLessThanOrEqual(390);
      await screenshot(page, "phone-agents");
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it("runs ui/examples/embed.html from another origin with attributes only", async () => {
    const html = readFileSync(join(ROOT, "ui/examples/embed.html"), "utf8");
    const statics: Server = createServer((req, res) => {
      if (req.url?.startsWith("/embed.html")) {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(html);
      } else if (req.url === "/favicon.ico") {
        res.writeHead(204).end();
      } else {
        res.writeHead(404).end("not found");
      }
    });
    const port = embedPort;
    await new Promise<void>((resolve) => statics.listen(port, "127.0.0.1", resolve));
    const { page, errors } = await open("/");
    try {
      await page.goto(`http://127.0.0.1:${port}/embed.html?api=${encodeURIComponent(base)}`);
      const rows = page.locator("cognive-trace-list tbody tr");
      await rows.first().waitFor({ timeout: 15_000 });
      await page.locator("cognive-cost-chart canvas").first().waitFor({ timeout: 15_000 });
      // Choosing a trace in the list opens it in the trace view on the same page, through the DOM event.
      const id = await rows.first().getAttribute("data-trace-id");
      await rows.first().locator("button.open").click();
      await page.locator("cognive-trace-view [role=row][data-span-id]").first().waitFor();
      expect(await page.locator("cognive-trace-view").getAttribute("trace-id")).toBe(id);
      await page.waitForTimeout(500);
      await screenshot(page, "embed");
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await new Promise((r) => statics.close(r));
    }
  }, 60_000);

  it("keeps a 5,000-span trace virtualized: few rows in the DOM, the last span reachable by scrolling", async () => {
    const { page, errors } = await open("/");
    try {
      await page.setContent(
        `${head()}` +
          `<body style="margin:0"><cognive-trace-view style="--cognive-trace-height:600px"></cognive-trace-view></body></html>`,
      );
      await page.waitForFunction(() => customElements.get("cognive-trace-view") !== undefined);
      const trace = syntheticTrace(5000) as { spans: { spanId: string }[] };
      await page.evaluate((t) => {
        (document.querySelector("cognive-trace-view") as any).trace = t;
      }, trace);
      const view = page.locator("cognive-trace-view");
      const rows = view.locator("[role=row][data-span-id]");
      await rows.first().waitFor();
      expect(await view.locator('[data-stat="spans"]').textContent()).toBe("5,000");
      const inDom = await rows.count();
      expect(inDom).toBeGreaterThan(10);
      expect(inDom).toBeLessThan(100);
      // The spacer makes the scrollbar span every row (below the 28 px sticky header).
      const scroller = view.locator(".scroller");
      const height = await scroller.evaluate((el) => el.scrollHeight);
      expect(height).toBe(28 + 5000 * 28);

      await scroller.evaluate((el) => {
        el.scrollTop = el.scrollHeight;
      });
      const last = trace.spans[trace.spans.length - 1]?.spanId;
      await view.locator(`[role=row][data-span-id="${last}"]`).waitFor();
      expect(await rows.count()).toBeLessThan(100);
      expect(await rows.last().getAttribute("aria-rowindex")).toBe(String(5000 + 1));

      // Keyboard: Home selects the first span and scrolls back to the top.
      await scroller.focus();
      await page.keyboard.press("Home");
      await view.locator('[role=row][aria-rowindex="2"][aria-selected="true"]').waitFor();
      expect(await scroller.evaluate((el) => el.scrollTop)).toBe(0);
      await page.keyboard.press("ArrowDown");
      expect(await view.locator("[part=details] h3").textContent()).toBe("step 1");
      // End selects the last span and scrolls it into view; ArrowLeft goes to its parent step.
      await page.keyboard.press("End");
      await view.locator(`[role=row][data-span-id="${last}"][aria-selected="true"]`).waitFor();
      await page.keyboard.press("ArrowLeft");
      expect(await view.locator("[part=details] h3").textContent()).toBe("step 4991");
      // A selection from the page scrolls its row into view.
      const deep = trace.spans[3000]?.spanId as string;
      await view.evaluate((el, id) => el.setAttribute("selected-span-id", id), deep);
      await view.locator(`[role=row][data-span-id="${deep}"][aria-selected="true"]`).waitFor();
      expect(await rows.count()).toBeLessThan(100);
      await screenshot(page, "trace-5000-spans");
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);
});
