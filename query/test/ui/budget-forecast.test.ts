import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyRetention, createStorage, migrate } from "@cognive/collector";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURE_RETENTION, modelCallRow } from "../../../collector/test/support/storage.ts";
import { formatDay, projectionText } from "../../../ui/src/budget-data.ts";
import { formatCost } from "../../../ui/src/format.ts";
import { getJson, startTestServer, type TestServer } from "../helpers/server.ts";
import { launchChromium, missingChromium, screenshot, watchErrors } from "./browser.ts";

const DAY = 86_400_000;

/**
 * The budgets view with forecasts: team cx spends $10 a day for three weeks against a $100 monthly
 * budget (it reaches it this month), team calm $0.10 a day against $1,000 (it stays under). The
 * gauges show what `GET /api/v1/forecast` says: spent, projected, and the day the budget is reached.
 */
describe.skipIf(missingChromium())("budget forecasts in Chromium", () => {
  const dir = mkdtempSync(join(tmpdir(), "cognive-ui-forecast-"));
  let server: TestServer | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    writeFileSync(
      join(dir, "policy.yaml"),
      "teams:\n  cx: { budgets: { monthly_usd: 100 } }\n  calm: { budgets: { monthly_usd: 1000 } }\n",
    );
    const now = Date.now();
    const rows: ReturnType<typeof modelCallRow>[] = [];
    // One call an hour ago and one a day for 21 days before: today counts too, whatever the hour.
    for (let d = 0; d <= 21; d++) {
      const at = new Date(now - d * DAY - 3_600_000).toISOString();
      rows.push(modelCallRow(at, "a", "cx", 10), modelCallRow(at, "b", "calm", 0.1));
    }
    // Stored before the start, so the budget counters start from this spend as after a restart.
    const dataDir = join(dir, "data");
    const storage = createStorage({ dataDir, database: "cognive" });
    await migrate(storage);
    await applyRetention(storage, FIXTURE_RETENTION);
    await storage.client.insert({ table: "cognive.otel_traces", format: "JSONEachRow", values: rows });
    await storage.close();
    server = await startTestServer(
      { COGNIVE_POLICY: join(dir, "policy.yaml"), COGNIVE_SPEND_WATCH_SECONDS: "0" },
      dataDir,
    );
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  }, 60_000);

  it("shows spent, projected and the day the budget is reached on each monthly gauge", async () => {
    if (!server || !browser) throw new Error("setup failed");
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const errors = watchErrors(page);
    try {
      await page.goto(`${server.queryUrl}/#/budgets`);
      const forecasts = (await getJson(`${server.queryUrl}/api/v1/forecast?groupBy=team`)).body.series;
      const cx = forecasts.find((s: { key: string }) => s.key === "cx");
      const calm = forecasts.find((s: { key: string }) => s.key === "calm");
      expect(cx.exceedsOn).not.toBeNull();
      expect(calm.exceedsOn).toBeNull();

      const cxGauge = page.locator('cognive-budget-gauge[scope="team:cx"]');
      const cxForecast = cxGauge.locator('[part="forecast"]');
      await cxForecast.waitFor();
      expect(await cxGauge.locator('[part="text"]').textContent()).toBe(
        `${formatCost(cx.spentUsd)} of ${formatCost(100)} this month`,
      );
      expect(await cxForecast.locator(".projection").textContent()).toBe(projectionText(cx));
      expect(await cxForecast.locator(".projection").textContent()).toContain(formatCost(cx.projectedUsd));
      expect(await cxForecast.locator(".exceeds").textContent()).toMatch(
        new RegExp(`^Reach(es|ed) the budget on ${formatDay(cx.exceedsOn)}$`),
      );
      expect(await cxForecast.getAttribute("data-exceeds")).toBe(cx.exceedsOn);
      // The projection's mark sits on the bar (past the end it is pinned there).
      expect(await cxGauge.locator('[part="projected-mark"]').count()).toBe(1);

      const calmForecast = page.locator('cognive-budget-gauge[scope="team:calm"] [part="forecast"]');
      await calmForecast.waitFor();
      expect(await calmForecast.locator(".exceeds").textContent()).toBe("Projected to stay under the budget");
      expect(await calmForecast.getAttribute("data-exceeds")).toBeNull();
      await screenshot(page, "budgets-forecast");
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 120_000);
});
