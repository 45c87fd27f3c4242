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
import { createPipeline, groupCommitExporter } from "../src/pipeline/ingest.ts";
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
const AGENT = { type: "agent", name: "agent-r" } as const;
const CALLS = 5;

let storage: Storage;
let close: () => Promise<void>;
const closing: (() => Promise<void>)[] = [];
beforeAll(async () => {
  ({ storage, close } = await openTestStorage("reconcile"));
});
afterAll(async () => {
  for (const c of closing) await c();
  await close();
});

/**
 * A collector on the shared storage and the given counters (one Redis, in miniature), whose inserts
 * answer only after `release()`: the rows are committed and readable, and ingest has not heard so
 * yet (the moment a reconciliation can land in on a busy machine).
 */
function collector(counters: MemoryCounters) {
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
  const governance = new Governance(POLICY, counters, new InProcessBus(), new AlertStore(storage), silentLogger);
  const pipeline = createPipeline({
    storage: held,
    processors: defaultProcessors(new Pricer(), POLICY),
    exporter: groupCommitExporter(held, { ...defaultWriterConfig, lingerMs: 1 }, silentLogger),
    onDurable: governance.onDurable,
    metrics: createCollectorMetrics(),
    log: silentLogger,
    dedupCapacity: 10_000,
  });
  governance.follow(pipeline);
  closing.push(async () => {
    open();
    await pipeline.close();
  });
  const reconciler = new BudgetReconciler(storage, counters, silentLogger, () => governance.idle());
  /** Sends one trace of CALLS priced calls; resolves once its spans show in storage (still held), with the answer to come. */
  async function send(trace: string) {
    const before = await storedUsd();
    const spans = traceSpans(
      trace.repeat(32),
      BigInt(Date.now()) * 1_000_000n,
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
    const deadline = Date.now() + 10_000;
    while ((await storedUsd()) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await storedUsd()).toBeGreaterThan(before);
    return { answer }; // not the promise itself: awaiting send would then wait for the held commit
  }
  return { governance, reconciler, send, release: () => open() };
}

const storedUsd = async () =>
  (await spendSoFar(storage)).find((t) => t.scope.type === "agent" && t.window === "day")?.usd ?? 0;
const counted = (counters: MemoryCounters) => counters.get(AGENT, "day", dayKey(new Date()));

describe("budget reconciliation while spans are on their way to governance", { timeout: 30_000 }, () => {
  it("waits for this process's commits in flight, and never counts them twice", async () => {
    const counters = new MemoryCounters();
    const a = collector(counters);
    await a.reconciler.reconcile(); // the first pass only reads storage
    const { answer } = await a.send("7");
    expect(await counted(counters)).toBe(0);
    let reconciled = false;
    const pass = a.reconciler.reconcile().then((r) => {
      reconciled = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(reconciled, "the pass waits for the held commit").toBe(false);
    a.release();
    expect((await answer).accepted).toBe(CALLS);
    expect((await pass).corrected, "nothing was missing: governance counted the spans").toBe(0);
    expect((await a.reconciler.reconcile()).corrected).toBe(0);
    await a.governance.idle();
    expect(Math.abs((await counted(counters)) - (await storedUsd()))).toBeLessThanOrEqual(1e-6 * CALLS);
  });

  it("leaves another collector's stored but uncounted spans to it, so shared counters count them once", async () => {
    const shared = new MemoryCounters();
    await shared.seed(await spendSoFar(storage)); // counters that are up to date before B sends
    const a = collector(shared);
    const b = collector(shared);
    const before = await counted(shared);
    await a.reconciler.reconcile();
    // B's commit is in storage; B's governance has not counted it. A reconciles meanwhile.
    const { answer } = await b.send("8");
    const during = await a.reconciler.reconcile();
    expect(during.corrected, "A does not raise the counter to spans B has yet to count").toBe(0);
    b.release();
    await answer;
    await b.governance.idle();
    // A's next pass holds the counter to what it read while B's commit was held: B counted it since.
    expect((await a.reconciler.reconcile()).corrected).toBe(0);
    const stored = await storedUsd();
    expect(Math.abs((await counted(shared)) - stored)).toBeLessThanOrEqual(1e-6 * CALLS * 2);
    expect(await counted(shared)).toBeGreaterThan(before);
  });

  it("raises a counter that really fell behind storage, on its second pass", async () => {
    // A Redis that restarted empty, in miniature: counters that know nothing.
    const empty = new MemoryCounters();
    const { reconciler } = collector(empty);
    expect((await reconciler.reconcile()).corrected, "the first pass only reads storage").toBe(0);
    const result = await reconciler.reconcile();
    const stored = await storedUsd();
    expect(result.corrected).toBeGreaterThan(0);
    expect(result.driftUsd).toBeGreaterThanOrEqual(stored);
    expect(await counted(empty)).toBeCloseTo(stored, 6);
  });
});
