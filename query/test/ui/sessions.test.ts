import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatCost } from "../../../ui/src/format.ts";
import { agentRunBody } from "../helpers/agent-run.ts";
import { postRaw } from "../helpers/http.ts";
import { getJson, startTestServer, type TestServer } from "../helpers/server.ts";
import { launchChromium, missingChromium, screenshot, watchErrors } from "./browser.ts";

const CONVERSATION = "support/chat 42";
const text = (role: string, content: string) => JSON.stringify([{ role, parts: [{ type: "text", content }] }]);

/** One turn of a support chat: an agent run whose chat call captured the question and the answer. */
const turn = (traceId: string, startNs: bigint, user: string, question: string, answer: string, tokens: number) =>
  agentRunBody({
    traceId,
    startNs,
    service: "support-bot",
    agent: "support",
    model: "gpt-4o",
    inputTokens: tokens,
    conversationId: CONVERSATION,
    userId: user,
    inputMessages: text("user", question),
    outputMessages: text("assistant", answer),
  });

/** The sessions list and a session page in Chromium, against a real in-process Cognive. */
describe.skipIf(missingChromium())("sessions in the UI", () => {
  let server: TestServer;
  let browser: Browser | undefined;
  const traces = ["a1".repeat(16), "b2".repeat(16)];

  beforeAll(async () => {
    server = await startTestServer();
    const now = BigInt(Date.now()) * 1_000_000n;
    const turns = [
      turn(traces[0], now - 120_000_000_000n, "alice", "Where is my order?", "It ships tomorrow.", 1200),
      turn(traces[1], now - 60_000_000_000n, "alice", "Can I change the address?", "Yes, until it ships.", 2400),
    ];
    for (const t of turns) {
      const res = await postRaw(`${server.otlpUrl}/v1/traces`, t, {
        "content-type": "application/json",
      });
      expect(res.status).toBe(200);
    }
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("lists the session with the API's figures and opens it as chat turns linked to their traces", async () => {
    if (!browser) throw new Error("Chromium did not start");
    const api = await getJson(`${server.queryUrl}/api/v1/sessions`);
    expect(api.body.sessions).toHaveLength(1);
    const session = api.body.sessions[0];
    expect(session).toMatchObject({ conversationId: CONVERSATION, traces: 2, users: ["alice"], agents: ["support"] });
    expect(session.costUsd).toBeGreaterThan(0);

    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const errors = watchErrors(page);
    try {
      await page.goto(`${server.queryUrl}/#/sessions`);
      const row = page.locator(`cognive-session-list tr[data-conversation-id="${CONVERSATION}"]`);
      await row.waitFor();
      expect(await row.locator("td").nth(1).textContent()).toBe("alice");
      expect(await row.locator("td").nth(3).textContent()).toBe("2");
      expect(await row.locator("td[data-cost]").textContent()).toBe(formatCost(session.costUsd));
      await screenshot(page, "sessions");

      await row.locator("a.open").click();
      await page.waitForURL(`**/#/sessions/${encodeURIComponent(CONVERSATION)}`);
      const turns = page.locator("cognive-session-view article.turn");
      await expect.poll(() => turns.count()).toBe(2);
      const detail = (await getJson(`${server.queryUrl}/api/v1/sessions/${encodeURIComponent(CONVERSATION)}`)).body;
      for (let i = 0; i < 2; i++) {
        const t = turns.nth(i);
        expect(await t.getAttribute("data-trace-id")).toBe(traces[i]);
        expect(await t.locator("[data-cost]").textContent()).toBe(formatCost(detail.turns[i].costUsd));
      }
      // The conversation reads as chat: the question, then the answer.
      const first = turns.nth(0);
      expect(await first.locator('.msg[data-role="user"]').textContent()).toContain("Where is my order?");
      expect(await first.locator('.msg[data-role="assistant"]').textContent()).toContain("It ships tomorrow.");
      expect(await page.locator('cognive-session-view [data-stat="cost"]').textContent()).toBe(
        formatCost(detail.costUsd),
      );
      await screenshot(page, "session");

      // Each turn links to its trace.
      await turns.nth(1).locator("a.trace").click();
      await page.waitForURL(`**/#/traces/${traces[1]}`);
      await page.locator("cognive-trace-view").waitFor();
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 90_000);

  it("shows each trace's users in the trace list and filters it by user from the URL", async () => {
    if (!browser) throw new Error("Chromium did not start");
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const errors = watchErrors(page);
    try {
      await page.goto(`${server.queryUrl}/#/traces?user=alice`);
      const rows = page.locator("cognive-trace-list tbody tr");
      await expect.poll(() => rows.count()).toBe(2);
      for (let i = 0; i < 2; i++) expect(await rows.nth(i).locator("td[data-users]").textContent()).toBe("alice");
      expect(await page.locator('cognive-trace-list input[name="user"]').inputValue()).toBe("alice");
      await page.goto(`${server.queryUrl}/#/traces?user=bob`);
      await page.locator("cognive-trace-list").getByText("No traces", { exact: false }).first().waitFor();
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);
});
