import { randomBytes } from "node:crypto";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { launchChromium, missingChromium, screenshot, watchErrors } from "./browser.ts";

const str = (v: string) => ({ stringValue: v });
const kv = (key: string, value: unknown) => ({ key, value });

/** A chat span over OTLP/JSON, then its GenAI events and an evaluation as log records over OTLP/JSON. */
async function sendChatWithLogs(server: TestServer, traceId: string, spanId: string): Promise<void> {
  const now = BigInt(Date.now()) * 1_000_000n;
  const resource = { attributes: [kv("service.name", str("ui-logs"))] };
  const spans = await fetch(`${server.otlpUrl}/v1/traces`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      resourceSpans: [
        {
          resource,
          scopeSpans: [
            {
              spans: [
                {
                  traceId,
                  spanId,
                  name: "chat gpt-4o",
                  kind: 3,
                  startTimeUnixNano: String(now),
                  endTimeUnixNano: String(now + 900_000_000n),
                  attributes: [kv("gen_ai.operation.name", str("chat")), kv("gen_ai.request.model", str("gpt-4o"))],
                },
              ],
            },
          ],
        },
      ],
    }),
  });
  expect(spans.status).toBe(200);
  const message = (role: string, text: string) => ({
    kvlistValue: {
      values: [
        kv("role", str(role)),
        kv("parts", {
          arrayValue: { values: [{ kvlistValue: { values: [kv("type", str("text")), kv("content", str(text))] } }] },
        }),
      ],
    },
  });
  const logs = await fetch(`${server.otlpUrl}/v1/logs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      resourceLogs: [
        {
          resource,
          scopeLogs: [
            {
              logRecords: [
                {
                  timeUnixNano: String(now + 800_000_000n),
                  traceId,
                  spanId,
                  eventName: "gen_ai.client.inference.operation.details",
                  attributes: [
                    kv("gen_ai.input.messages", { arrayValue: { values: [message("user", "Where is order 42?")] } }),
                    kv("gen_ai.output.messages", {
                      arrayValue: { values: [message("assistant", "It shipped today.")] },
                    }),
                  ],
                },
                {
                  timeUnixNano: String(now + 850_000_000n),
                  traceId,
                  spanId,
                  eventName: "gen_ai.evaluation.result",
                  attributes: [
                    kv("gen_ai.evaluation.name", str("helpfulness")),
                    kv("gen_ai.evaluation.score.value", { doubleValue: 0.9 }),
                    kv("gen_ai.evaluation.score.label", str("good")),
                  ],
                },
                {
                  timeUnixNano: String(now + 100_000_000n),
                  traceId,
                  spanId,
                  severityText: "WARN",
                  body: str("slow upstream"),
                },
              ],
            },
          ],
        },
      ],
    }),
  });
  expect(logs.status).toBe(200);
  expect(await logs.json()).toEqual({});
}

describe.skipIf(missingChromium())("span logs in the UI (Chromium)", () => {
  let server: TestServer;
  let browser: Browser | undefined;
  beforeAll(async () => {
    server = await startTestServer();
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("shows a span's log records, the messages its GenAI event carried, and its score", async () => {
    const traceId = randomBytes(16).toString("hex");
    const spanId = randomBytes(8).toString("hex");
    await sendChatWithLogs(server, traceId, spanId);
    if (!browser) throw new Error("Chromium did not start");
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const errors = watchErrors(page);
    try {
      await page.goto(`${server.queryUrl}/#/traces/${traceId}`);
      const details = page.locator("cognive-trace-view [part=details]");
      await details.waitFor({ timeout: 30_000 });
      const text = (await details.textContent()) ?? "";
      // The event's messages read as a conversation, not raw JSON.
      expect(text).toContain("Conversation (2 messages)");
      const chat = page.locator("cognive-trace-view [part=chat]");
      expect(await chat.locator('[part=message][data-role="user"]').textContent()).toContain("Where is order 42?");
      expect(await chat.locator('[part=message][data-source="output"]').textContent()).toContain("It shipped today.");
      expect(await page.locator("cognive-trace-view [part=scores] li").allTextContents()).toEqual([
        "helpfulness: 0.9 (good)",
      ]);
      expect(text).toContain("Logs (3)");
      expect(text).toContain("slow upstream");
      await screenshot(page, "span-logs");
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 90_000);
});
