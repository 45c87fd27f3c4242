import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";

/** Debian's Chromium; CI installs it (apt-get install chromium). */
export const CHROMIUM = process.env.COGNIVE_CHROMIUM ?? "/usr/bin/chromium";
const REQUIRE_SERVICES = process.env.COGNIVE_REQUIRE_SERVICES === "1";

/** Screenshots of every view land here (gitignored), for people to look at after a run. */
export const ARTIFACTS = join(new URL("../../..", import.meta.url).pathname, "test-artifacts", "ui");

/** `describe.skipIf` reason: null when Chromium exists (or is required, so a missing one fails). */
export function missingChromium(): string | null {
  if (existsSync(CHROMIUM) || REQUIRE_SERVICES) return null;
  const msg = `${CHROMIUM} not found: skipping the UI tests (apt-get install -y chromium; CI sets COGNIVE_REQUIRE_SERVICES=1)`;
  process.stderr.write(`${msg}\n`);
  return msg;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
}

/** Collects console errors and uncaught page errors, so a test can assert the page ran clean. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  // The console's "Failed to load resource" names no URL: record which request failed.
  page.on("response", (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return errors;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/**
 * A synthetic trace-detail document of `n` spans: a root agent run, steps under it, and model and
 * tool calls under the steps, with errors sprinkled in. Shared by the UI test and the UI benchmark.
 */
export function syntheticTrace(n: number, traceId = "5".repeat(32)): unknown {
  const t0 = 1_760_000_000_000_000_000n;
  const spans: unknown[] = [];
  const genAi = (over: Record<string, unknown> = {}) => ({
    operation: null,
    provider: null,
    requestModel: null,
    responseModel: null,
    inputTokens: null,
    outputTokens: null,
    cacheReadTokens: null,
    cacheWriteTokens: null,
    reasoningTokens: null,
    agentName: "bench-agent",
    toolName: null,
    conversationId: null,
    costUsd: null,
    priced: false,
    usageRole: "none",
    ...over,
  });
  let inputTokens = 0;
  let outputTokens = 0;
  let costUsd = 0;
  let errors = 0;
  let step = "";
  for (let i = 0; i < n; i++) {
    const start = t0 + BigInt(i) * 1_000_000n;
    const id = (i + 1).toString(16).padStart(16, "0");
    const kind = i === 0 ? "root" : i % 10 === 1 ? "step" : i % 2 === 0 ? "chat" : "tool";
    if (kind === "step") step = id;
    const error = kind === "tool" && i % 97 === 0;
    if (error) errors++;
    const chat = kind === "chat";
    const input = chat ? 500 + (i % 300) : null;
    const output = chat ? 50 + (i % 40) : null;
    const cost = chat ? 0.0001 * (1 + (i % 7)) : null;
    if (chat) {
      inputTokens += input as number;
      outputTokens += output as number;
      costUsd += cost as number;
    }
    spans.push({
      spanId: id,
      parentSpanId: kind === "root" ? "" : kind === "step" ? "0000000000000001" : step,
      name:
        kind === "root"
          ? "invoke_agent bench-agent"
          : kind === "step"
            ? `step ${i}`
            : chat
              ? "chat gpt-4o"
              : "execute_tool search",
      kind: chat ? "Client" : "Internal",
      serviceName: "bench",
      startTimeUnixNano: String(start),
      durationNs: String(kind === "root" ? n * 1_000_000 : kind === "step" ? 9_000_000 : 800_000),
      status: { code: error ? "error" : "unset", message: error ? `tool failed at span ${i}` : "" },
      attributes: chat
        ? { "gen_ai.request.model": "gpt-4o", "gen_ai.input.messages": '[{"role":"user","content":"hi"}]' }
        : {},
      resource: { "service.name": "bench" },
      events: [],
      genAi: chat
        ? genAi({
            operation: "chat",
            provider: "openai",
            requestModel: "gpt-4o",
            responseModel: "gpt-4o-2024-08-06",
            inputTokens: input,
            outputTokens: output,
            costUsd: cost,
            priced: true,
            usageRole: "model_call",
          })
        : genAi({ toolName: kind === "tool" ? "search" : null, operation: kind === "tool" ? "execute_tool" : null }),
    });
  }
  return {
    traceId,
    spans,
    summary: {
      rootName: "invoke_agent bench-agent",
      rootService: "bench",
      startTimeUnixNano: String(t0),
      durationNs: String(n * 1_000_000),
      spanCount: n,
      errorCount: errors,
      inputTokens,
      outputTokens,
      costUsd,
    },
  };
}
