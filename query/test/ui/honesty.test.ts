import { join } from "node:path";
import { AlertStore, type StoredAlert } from "@cognive/collector";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anthropicResponse, openaiResponse } from "../../../demo/workload.ts";
import { createCognive } from "../../../sdk/src/index.ts";
import { formatCost } from "../../../ui/src/format.ts";
import { getJson, startTestServer, type TestServer } from "../helpers/server.ts";
import { launchChromium, missingChromium, screenshot, watchErrors } from "./browser.ts";

const ROOT = new URL("../../..", import.meta.url).pathname;

/** Sends one agent run through the SDK: a priced call, a tool, and a sub-agent with an unpriced and a priced call. */
async function sendRun(server: TestServer, agent: string, ask: string): Promise<string> {
  const sdk = createCognive({
    serviceName: "ui-honesty",
    agent,
    team: "cx",
    endpoint: server.otlpUrl,
    apiUrl: server.queryUrl,
    captureContent: true,
    scheduledDelayMillis: 10,
  });
  let traceId = "";
  const { trace } = await import("@opentelemetry/api");
  await sdk.agentRun(agent, async () => {
    traceId = trace.getActiveSpan()?.spanContext().traceId ?? "";
    const messages = [
      { role: "system", content: "Be brief." },
      { role: "user", content: ask },
    ];
    await sdk.llmCall({ provider: "openai", model: "gpt-4o", messages }, async () =>
      openaiResponse("gpt-4o", 1400, 120, 0, "Looking the order up."),
    );
    await sdk.toolCall("lookup_order", async () => ({ ok: true }), { callId: "call_1", arguments: { order: 42 } });
    await sdk.agentRun("pricing-helper", async () => {
      await sdk.llmCall({ provider: "acme", model: "acme-secret-1", messages }, async () =>
        openaiResponse("acme-secret-1", 300, 20, 0, "internal model answer"),
      );
      await sdk.llmCall({ provider: "anthropic", model: "claude-sonnet-4-20250514", messages }, async () =>
        anthropicResponse("claude-sonnet-4-20250514", 2200, 310, 0, 0, "Refund approved."),
      );
    });
  });
  await sdk.shutdown();
  return traceId;
}

async function waitForTrace(server: TestServer, traceId: string, spans: number): Promise<any> {
  for (let i = 0; i < 100; i++) {
    const r = await getJson(`${server.queryUrl}/api/v1/traces/${traceId}`);
    if (r.status === 200 && r.body.spans.length >= spans) return r.body;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`trace ${traceId} did not arrive`);
}

/**
 * What a new user found misleading, checked in Chromium against a real Cognive: unpriced calls
 * in the header and list, rolled-up parent rows, filters that survive navigation, a run's alerts,
 * and an alerts page that shows every alert.
 */
describe.skipIf(missingChromium())("UI honesty (Chromium)", () => {
  let server: TestServer;
  let browser: Browser | undefined;
  let runId = "";
  let otherId = "";
  const alerts: StoredAlert[] = [];

  beforeAll(async () => {
    server = await startTestServer({ COGNIVE_POLICY: join(ROOT, "demo/policy.yaml") });
    runId = await sendRun(server, "refund-agent", "Order #42 arrived broken, refund it please.");
    otherId = await sendRun(server, "triage-agent", "The app logs me out every five minutes.");
    await waitForTrace(server, runId, 6);
    await waitForTrace(server, otherId, 6);
    // 30 alerts: 24 about different scopes, and 6 repeats of one policy violation (one row with ×6).
    const now = Date.now();
    for (let i = 0; i < 24; i++) {
      alerts.push({
        id: `budget-${i}`,
        kind: "budget.threshold",
        time: new Date(now - (i + 1) * 60_000).toISOString(),
        agent: `agent-${i}`,
        team: i % 2 === 0 ? "cx" : "finance",
        traceId: i === 0 ? runId : undefined,
        scope: { type: "agent", name: `agent-${i}`, window: "day" },
        threshold: 80,
        spendUsd: 4.1,
        limitUsd: 5,
      });
    }
    for (let i = 0; i < 6; i++) {
      alerts.push({
        id: `policy-${i}`,
        kind: "policy.model_not_allowed",
        time: new Date(now - (30 + i) * 60_000).toISOString(),
        agent: "refund-agent",
        team: "cx",
        model: "claude-opus-4",
      });
    }
    await new AlertStore(server.running.storage).save(alerts);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  }, 60_000);

  async function open(path: string): Promise<{ page: Page; errors: string[] }> {
    if (!browser) throw new Error("Chromium did not start");
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const errors = watchErrors(page);
    await page.goto(`${server.queryUrl}${path}`);
    return { page, errors };
  }

  it("marks the unpriced call in the trace header, on its row and in the list; parent rows add up their children", async () => {
    const detail = await waitForTrace(server, runId, 6);
    expect(detail.summary.unpricedCalls).toBe(1);
    const { page, errors } = await open(`/#/traces/${runId}`);
    try {
      const view = page.locator("cognive-trace-view");
      await view.locator('[data-stat="unpriced"]').waitFor();
      expect(await view.locator('[data-stat="unpriced"]').textContent()).toBe("+ 1 unpriced");
      expect(await view.locator('[data-stat="cost"]').textContent()).toBe(formatCost(detail.summary.costUsd));

      const unpriced = detail.spans.find((s: any) => s.genAi.usageRole === "model_call" && !s.genAi.priced);
      const row = view.locator(`[role=row][data-span-id="${unpriced.spanId}"]`);
      expect(await row.locator(".c-cost").textContent()).toContain("unpriced");

      // The sub-agent's row shows the sum of its two calls (one unpriced, so marked), not its own nothing.
      const helper = detail.spans.find((s: any) => s.name === "invoke_agent pricing-helper");
      const children = detail.spans.filter((s: any) => s.parentSpanId === helper.spanId);
      expect(children.length).toBe(2);
      const childSum = children.reduce((a: number, s: any) => a + (s.genAi.costUsd ?? 0), 0);
      expect(childSum).toBeGreaterThan(0);
      const helperCost = view.locator(`[role=row][data-span-id="${helper.spanId}"] .c-cost`);
      expect(Number(await helperCost.getAttribute("data-rollup-cost"))).toBeCloseTo(childSum, 12);
      expect(await helperCost.textContent()).toContain(formatCost(childSum));
      expect(await helperCost.textContent()).toContain("+1");
      // The root's rolled-up cost is the trace total shown in the header.
      const root = detail.spans.find((s: any) => s.parentSpanId === "");
      const rootCost = view.locator(`[role=row][data-span-id="${root.spanId}"] .c-cost`);
      expect((await rootCost.textContent())?.trim().startsWith(formatCost(detail.summary.costUsd))).toBe(true);

      // A priced call: its cost in parts, its prompt and reply as chat messages.
      const priced = children.find((s: any) => s.genAi.priced);
      await view.locator(`[role=row][data-span-id="${priced.spanId}"]`).click();
      const parts = view.locator("[part=cost-parts]");
      await parts.waitFor();
      expect(await parts.textContent()).toContain(formatCost(priced.genAi.costParts.inputUsd));
      expect(await parts.textContent()).toContain(formatCost(priced.genAi.costParts.outputUsd));
      const chat = view.locator("[part=chat]");
      expect(await chat.locator('[part=message][data-role="system"]').textContent()).toContain("Be brief.");
      expect(await chat.locator('[part=message][data-role="user"]').textContent()).toContain("Order #42");
      expect(await chat.locator('[part=message][data-source="output"]').textContent()).toContain("Refund approved.");

      // The run raised an alert (from the fixture): the trace shows it.
      await view.locator("[part=run-alerts] li[data-alert-id='budget-0']").waitFor();
      await screenshot(page, "trace-unpriced-rollup");
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }

    const list = await open("/#/traces");
    try {
      const row = list.page.locator(`cognive-trace-list tr[data-trace-id="${runId}"]`);
      await row.waitFor();
      expect(await row.textContent()).toContain("+ 1 unpriced");
      expect(await row.locator("[part=preview]").textContent()).toBe("Order #42 arrived broken, refund it please.");
      expect(await row.textContent()).toContain("gpt-4o");
      expect(list.errors).toEqual([]);
    } finally {
      await list.page.close();
    }
  }, 90_000);

  it("keeps the list's filters in the URL: they survive opening a trace and coming back", async () => {
    const { page, errors } = await open("/#/traces");
    try {
      const list = page.locator("cognive-trace-list");
      await list.locator("tbody tr").first().waitFor();
      expect(await list.locator("tbody tr").count()).toBe(2);
      await list.locator("input[name=agent]").fill("triage-agent");
      await list.locator("input[name=minCostUsd]").fill("0.001");
      await list.locator("button[type=submit]").click();
      await page.waitForURL(/agent=triage-agent/);
      expect(page.url()).toContain("minCostUsd=0.001");
      const ids = () =>
        list.locator("tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-trace-id")));
      await expect.poll(ids).toEqual([otherId]);
      // Sorting goes into the URL too.
      await list.locator('th[data-sort="cost"] button').click();
      await page.waitForURL(/sort=cost%3Adesc|sort=cost:desc/);
      await screenshot(page, "traces-filtered");

      await list.locator(`tr[data-trace-id="${otherId}"] a.open`).click();
      await page.waitForURL(`**/#/traces/${otherId}`);
      await page.locator("cognive-trace-view [role=row][data-span-id]").first().waitFor();
      await page.locator("cognive-app a.back").click();
      await page.waitForURL(/agent=triage-agent/);
      await expect.poll(ids).toEqual([otherId]);
      expect(await list.locator("input[name=agent]").inputValue()).toBe("triage-agent");
      expect(await list.locator("input[name=minCostUsd]").inputValue()).toBe("0.001");
      expect(await list.locator('th[data-sort="cost"]').getAttribute("aria-sort")).toBe("descending");

      // The browser's Back button and a reload land on the same filtered list.
      await list.locator(`tr[data-trace-id="${otherId}"] a.open`).click();
      await page.waitForURL(`**/#/traces/${otherId}`);
      await page.goBack();
      await expect.poll(ids).toEqual([otherId]);
      await page.reload();
      await expect.poll(ids).toEqual([otherId]);

      // A custom window that ends before the runs: in the URL, and the list says it is empty.
      const before = await page.evaluate(() => {
        const d = new Date(Date.now() - 2 * 3600_000);
        const p = (n: number) => String(n).padStart(2, "0");
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
      });
      await list.locator("input[name=to]").fill(before);
      await list.locator("button[type=submit]").click();
      await page.waitForURL(/to=/);
      expect(new URL(page.url()).hash).toContain(`to=${encodeURIComponent(before)}`);
      await list.locator(".state").waitFor();
      expect(await list.locator("tbody tr").count()).toBe(0);
      expect(await list.locator(".state").textContent()).toContain(before.replace("T", " "));
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 90_000);

  it("shows every alert of a 30-alert fixture on a full-height page, repeats folded, and filters them", async () => {
    const { page, errors } = await open("/#/alerts");
    try {
      const feed = page.locator("cognive-alert-feed");
      const heads = feed.locator("li[data-id]");
      await expect.poll(() => heads.count(), { timeout: 15_000 }).toBe(25);
      const shown = await feed
        .locator("li[data-id], li[data-member-id]")
        .evaluateAll((els) => els.map((e) => e.getAttribute("data-id") ?? e.getAttribute("data-member-id")));
      expect(new Set(shown)).toEqual(new Set(alerts.map((a) => a.id)));
      expect(await feed.locator('li[data-id="policy-0"]').getAttribute("data-count")).toBe("6");
      // Not clipped: the list does not scroll inside itself, the page shows it whole.
      const list = feed.locator("ol[part=list]");
      const { scroll, client } = await list.evaluate((el) => ({ scroll: el.scrollHeight, client: el.clientHeight }));
      expect(scroll).toBe(client);
      expect(client).toBeGreaterThan(420);
      // An exact time on hover.
      const title = await feed.locator('li[data-id="budget-0"] time').getAttribute("title");
      expect(title).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
      // An alert links back to the run that raised it.
      expect(await feed.locator('li[data-id="budget-0"] a').getAttribute("href")).toBe(`#/traces/${runId}`);
      await screenshot(page, "alerts-full");

      await feed.locator("select[name=kind]").selectOption("policy.model_not_allowed");
      await expect.poll(() => heads.count()).toBe(1);
      expect(page.url()).toContain("kind=policy.model_not_allowed");
      await feed.locator("select[name=kind]").selectOption("");
      await feed.locator("input[name=team]").fill("finance");
      await feed.locator("input[name=team]").press("Enter");
      await expect.poll(() => heads.count()).toBe(12);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 90_000);
});
