import { Pricer } from "@cognive/semconv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InProcessBus } from "../src/alerts/bus.ts";
import { MemoryCounters } from "../src/governance/counters.ts";
import { Governance } from "../src/governance/engine.ts";
import { spendSoFar } from "../src/governance/rebuild.ts";
import { BudgetReconciler } from "../src/governance/reconcile.ts";
import { dayKey } from "../src/governance/windows.ts";
import { silentLogger } from "../src/log.ts";
import { createCollectorMetrics } from "../src/metrics.ts";
import { createPipeline, groupCommitExporter, type IngestPipeline } from "../src/pipeline/ingest.ts";
import { defaultProcessors } from "../src/pipeline/processors.ts";
import { defaultWriterConfig } from "../src/pipeline/writer.ts";
import { parsePolicy } from "../src/policy.ts";
import { AlertStore } from "../src/storage/alerts.ts";
import type { Storage } from "../src/storage/client.ts";
import { chatAttributes, traceSpans } from "./support/spans.ts";
import { openTestStorage } from "./support/storage.ts";

const POLICY = parsePolicy(`
agents:
  agent-r:
    budgets: { daily_usd: 1000 }
`);
const CALLS = 5;

/**
 * The storage writes go to, except that each insert's answer is held until `release()`: the rows
 * are committed and readable, and ingest has not heard so yet (the moment a reconciliation can land
 * in on a busy machine).
 */
function heldStorage(storage: Storage) {
  let open: () => void = () => {};
  const gate = new Promise<void>((r) => (open = r));
  const held: Storage = Object.assign(Object.create(storage) as Storage, {
    insertTsv: async (...args: Parameters<Storage["insertTsv"]>) => {
      await storage.insertTsv(...args);
      await gate;
    },
    insertRowBinary: async (...args: Parameters<Storage["insertRowBinary"]>) => {
      await storage.insertRowBinary(...args);
      await gate;
    },
  });
  return { held, release: () => open() };
}

describe("budget reconciliation while a commit is in flight", () => {
  let storage: Storage;
  let close: () => Promise<void>;
  let pipeline: IngestPipeline;
  let counters: MemoryCounters;
  let governance: Governance;
  let gate: ReturnType<typeof heldStorage>;

  beforeAll(async () => {
    ({ storage, close } = await openTestStorage("reconcile"));
    gate = heldStorage(storage);
    counters = new MemoryCounters();
    governance = new Governance(POLICY, counters, new InProcessBus(), new AlertStore(storage), silentLogger);
    pipeline = createPipeline({
      storage: gate.held,
      processors: defaultProcessors(new Pricer(), POLICY),
      exporter: groupCommitExporter(gate.held, { ...defaultWriterConfig, lingerMs: 1 }, silentLogger),
      onDurable: governance.onDurable,
      metrics: createCollectorMetrics(),
      log: silentLogger,
      dedupCapacity: 10_000,
    });
    governance.follow(pipeline);
  });
  afterAll(async () => {
    gate.release();
    await pipeline.close();
    await close();
  });

  const storedUsd = async () =>
    (await spendSoFar(storage)).find((t) => t.scope.type === "agent" && t.window === "day")?.usd ?? 0;

  it("waits for the spans storage already shows, so raising a counter never counts them twice", async () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    const spans = traceSpans(
      "7".repeat(32),
      now,
      Array.from({ length: CALLS }, (_, i) => ({ name: "chat gpt-4o", attributes: chatAttributes(1000 + i, 100) })),
    );
    const answer = pipeline.submit(
      {
        resourceSpans: [
          { resource: { "gen_ai.agent.name": "agent-r" }, scopeSpans: [{ scopeName: "", scopeVersion: "", spans }] },
        ],
      },
      { team: null },
      "test",
    );
    // Committed and readable, not yet handed to governance.
    const deadline = Date.now() + 10_000;
    while ((await storedUsd()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const stored = await storedUsd();
    expect(stored).toBeGreaterThan(0);
    const day = dayKey(new Date());
    expect(await counters.get({ type: "agent", name: "agent-r" }, "day", day)).toBe(0);

    const reconciler = new BudgetReconciler(storage, counters, silentLogger, () => governance.idle());
    let reconciled = false;
    const pass = reconciler.reconcile().then((r) => {
      reconciled = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(reconciled, "the pass waits for the held commit").toBe(false);
    gate.release();
    expect((await answer).accepted).toBe(CALLS);
    const result = await pass;
    await governance.idle();

    expect(result.corrected, "nothing was missing: governance counted the spans").toBe(0);
    const counted = await counters.get({ type: "agent", name: "agent-r" }, "day", day);
    expect(Math.abs(counted - stored)).toBeLessThanOrEqual(1e-6 * CALLS);
  });

  it("still raises a counter that really fell behind storage", async () => {
    // A Redis that restarted empty, in miniature: counters that know nothing.
    const empty = new MemoryCounters();
    const reconciler = new BudgetReconciler(storage, empty, silentLogger, () => governance.idle());
    const result = await reconciler.reconcile();
    const stored = await storedUsd();
    expect(result.corrected).toBeGreaterThan(0);
    expect(result.driftUsd).toBeGreaterThanOrEqual(stored);
    expect(await empty.get({ type: "agent", name: "agent-r" }, "day", dayKey(new Date()))).toBeCloseTo(stored, 6);
  });
});
