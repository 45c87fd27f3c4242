import { describe, expect, it } from "vitest";
import { freePort } from "../../query/test/helpers/process.ts";
import { createCognive } from "../src/index.ts";
import { chatCompletion } from "./fixtures.ts";

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("collector unreachable", () => {
  it("calls return promptly, the queue stays bounded, drops are counted, shutdown is bounded", async () => {
    const port = await freePort();
    const maxQueueSize = 1000;
    const cognive = createCognive({
      serviceName: "offline",
      endpoint: `http://127.0.0.1:${port}`,
      maxQueueSize,
      maxExportBatchSize: 200,
      scheduledDelayMillis: 10,
      exportTimeoutMillis: 1000,
      shutdownTimeoutMillis: 2000,
    });
    const total = 50_000; // spans: every run makes an invoke_agent, a chat and an execute_tool span
    // warm-up: the first runs load and compile the export path
    for (let i = 0; i < 200; i++) await cognive.agentRun("warm-up", async () => cognive.toolCall("t", () => 1));
    const slow: { run: number; ms: number }[] = [];
    let runs = 0;
    for (let spans = 0; spans < total; spans += 3) {
      const t0 = performance.now();
      const v = await cognive.agentRun("offline-agent", async () => {
        const r = await cognive.llmCall({ provider: "openai", model: "gpt-4o" }, async () => chatCompletion);
        return cognive.toolCall("t", () => r.id);
      });
      const dt = performance.now() - t0;
      expect(v).toBe("chatcmpl-abc123");
      // A call that waited on the network would take the export timeout (1 s); the bound sits far
      // below that and far above a GC pause, so it tells blocking from not blocking on a busy machine.
      if (dt >= 250) slow.push({ run: runs, ms: dt });
      runs++;
      // let the exporter run (and fail) between runs now and then, as a real agent's I/O would
      if (runs % 500 === 0) await tick();
      expect(cognive.stats().queuedSpans).toBeLessThanOrEqual(maxQueueSize);
    }
    expect(slow).toEqual([]);

    // give the failing exports time to be reported
    const deadline = Date.now() + 5000;
    while (cognive.stats().failedExports === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

    const s = cognive.stats();
    expect(s.droppedSpans).toBeGreaterThan(0);
    expect(s.maxQueuedSpans).toBeLessThanOrEqual(maxQueueSize);
    expect(s.maxQueuedSpans).toBeGreaterThan(0);
    expect(s.failedExports).toBeGreaterThan(0);
    expect(s.exportedSpans).toBe(0);
    // every span was either dropped, handed to the exporter, or is still queued
    expect(s.droppedSpans + s.queuedSpans).toBeLessThanOrEqual(200 * 2 + runs * 3);

    // a run during the outage still completes promptly
    const t0 = performance.now();
    expect(await cognive.agentRun("again", async () => 1)).toBe(1);
    expect(performance.now() - t0).toBeLessThan(250);

    const t1 = performance.now();
    await cognive.shutdown();
    expect(performance.now() - t1).toBeLessThan(3000);
  }, 60_000);
});
