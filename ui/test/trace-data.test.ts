import { describe, expect, it } from "vitest";
import { syntheticTrace } from "../../query/test/ui/browser.ts";
import { type AlertItem, groupAlerts, matchesFilters } from "../src/alert-data.ts";
import { KeyColors } from "../src/chart-data.ts";
import { formatDateTime } from "../src/format.ts";
import { localToUnix, parseSort } from "../src/trace-list.ts";
import { type ApiSpan, chatMessages, GUARD_EVENT, guardStopped, subtreeTotals } from "../src/trace-types.ts";
import { buildSpanTree } from "../src/tree.ts";
import { budgetAlert } from "./alerts.ts";

const T0 = 1_700_000_000_000_000_000n;

/** The synthetic trace's root span (no GenAI usage) as a template for the spans below. */
const TEMPLATE = (syntheticTrace(1) as { spans: ApiSpan[] }).spans[0] as ApiSpan;

function span(id: string, parent: string, startMs: number, genAi: Partial<ApiSpan["genAi"]> = {}): ApiSpan {
  return {
    ...TEMPLATE,
    spanId: id,
    parentSpanId: parent,
    name: id,
    startTimeUnixNano: String(T0 + BigInt(startMs) * 1_000_000n),
    durationNs: "1000000",
    events: [],
    genAi: { ...TEMPLATE.genAi, ...genAi },
  };
}

const call = (id: string, parent: string, at: number, cost: number | null, input = 100, output = 10) =>
  span(id, parent, at, {
    usageRole: "model_call",
    inputTokens: input,
    outputTokens: output,
    costUsd: cost,
    priced: cost !== null,
  });

describe("subtreeTotals", () => {
  it("sums each subtree's model calls, leaves aggregate spans' own figures out, and counts unpriced calls", () => {
    const spans = [
      // An agent span reporting its own total: counting it would double the children.
      span("root", "", 0, { usageRole: "aggregate", inputTokens: 999, outputTokens: 999, costUsd: 9, priced: true }),
      span("step1", "root", 1),
      call("c1", "step1", 2, 0.0055, 1000, 300),
      call("c2", "step1", 3, 0.00125, 800, 100),
      span("step2", "root", 4),
      call("c3", "step2", 5, null, 50, 5),
      span("tool", "step2", 6),
      // Rejected before any usage (a 429): it costs nothing and is not unpriced.
      call("c4", "step2", 7, null, 0, 0),
    ];
    const totals = subtreeTotals(buildSpanTree(spans).order);
    expect(totals.get("step1")).toEqual({
      inputTokens: 1800,
      outputTokens: 400,
      costUsd: 0.0055 + 0.00125,
      calls: 2,
      unpricedCalls: 0,
    });
    expect(totals.get("step2")).toEqual({ inputTokens: 50, outputTokens: 5, costUsd: 0, calls: 2, unpricedCalls: 1 });
    expect(totals.get("root")).toEqual({
      inputTokens: 1850,
      outputTokens: 405,
      costUsd: 0.0055 + 0.00125,
      calls: 4,
      unpricedCalls: 1,
    });
    expect(totals.get("tool")?.calls).toBe(0);
  });
});

describe("chatMessages", () => {
  it("reads GenAI parts, tool calls and their results, and the older content shape", () => {
    const msgs = chatMessages({
      systemInstructions: [{ type: "text", content: "Be brief." }],
      input: [
        { role: "user", parts: [{ type: "text", content: "Refund order 42" }] },
        {
          role: "assistant",
          parts: [{ type: "tool_call", id: "call_1", name: "lookup_order", arguments: { order: 42 } }],
        },
        { role: "tool", parts: [{ type: "tool_call_response", id: "call_1", response: '{"ok":true}' }] },
        { role: "user", content: "thanks" } as never,
      ],
      output: [{ role: "assistant", parts: [{ type: "text", content: "Done." }], finish_reason: "stop" }],
    });
    expect(msgs.map((m) => [m.source, m.role])).toEqual([
      ["system", "system"],
      ["input", "user"],
      ["input", "assistant"],
      ["input", "tool"],
      ["input", "user"],
      ["output", "assistant"],
    ]);
    expect(msgs[2]?.blocks[0]).toEqual({
      kind: "tool_call",
      name: "lookup_order",
      id: "call_1",
      arguments: '{\n  "order": 42\n}',
    });
    expect(msgs[3]?.blocks[0]).toEqual({ kind: "tool_result", id: "call_1", result: '{\n  "ok": true\n}' });
    expect(msgs[4]?.blocks[0]).toEqual({ kind: "text", text: "thanks" });
    expect(msgs[5]?.finishReason).toBe("stop");
    expect(chatMessages(null)).toEqual([]);
  });
});

describe("guardStopped", () => {
  it("sees the guard's denial event or a recorded BudgetExceededError, nothing else", () => {
    const plain = span("a", "", 0);
    expect(guardStopped([plain])).toBe(false);
    const denied = { ...plain, events: [{ timeUnixNano: "1", name: GUARD_EVENT, attributes: {} }] };
    expect(guardStopped([plain, denied])).toBe(true);
    const thrown = {
      ...plain,
      events: [{ timeUnixNano: "1", name: "exception", attributes: { "exception.type": "BudgetExceededError" } }],
    };
    expect(guardStopped([thrown])).toBe(true);
    const other = {
      ...plain,
      events: [{ timeUnixNano: "1", name: "exception", attributes: { "exception.type": "Error" } }],
    };
    expect(guardStopped([other])).toBe(false);
  });
});

describe("groupAlerts", () => {
  const alert = (id: string, time: string, over: Partial<AlertItem> = {}): AlertItem =>
    budgetAlert(id, time, {
      kind: "policy.model_not_allowed",
      model: "claude-opus-4",
      scope: null,
      threshold: null,
      spendUsd: null,
      limitUsd: null,
      ...over,
    });
  it("folds repeats into their newest alert, in feed order, and keeps different subjects apart", () => {
    const feed = [
      alert("a3", "2026-12-01T10:03:00Z", { traceId: "t3" }),
      alert("b1", "2026-12-01T10:02:00Z", { model: "gpt-3.5" }),
      alert("a2", "2026-12-01T10:01:00Z", { traceId: "t2" }),
      alert("a1", "2026-12-01T10:00:00Z", { traceId: "t1" }),
    ];
    const groups = groupAlerts(feed);
    expect(groups.map((g) => [g.latest.id, g.alerts.map((a) => a.id)])).toEqual([
      ["a3", ["a3", "a2", "a1"]],
      ["b1", ["b1"]],
    ]);
  });
  it("filters by kind, agent and team, empty filters passing all", () => {
    const a = alert("x", "2026-12-01T10:00:00Z");
    expect(matchesFilters(a, { kind: "", agent: "", team: "" })).toBe(true);
    expect(matchesFilters(a, { kind: "budget.threshold", agent: "", team: "" })).toBe(false);
    expect(matchesFilters(a, { kind: "", agent: "refund-agent", team: "cx" })).toBe(true);
    expect(matchesFilters(a, { kind: "", agent: "", team: "finance" })).toBe(false);
  });
});

describe("KeyColors", () => {
  it("gives a key the same slot however often and in whatever order charts ask", () => {
    const c = new KeyColors();
    expect([c.index("gpt-4o"), c.index("claude"), c.index("gpt-4o"), c.index("o3")]).toEqual([0, 1, 0, 2]);
  });
});

describe("trace list options", () => {
  it("reads sort values and falls back to newest first", () => {
    expect(parseSort("cost:asc")).toEqual({ key: "cost", desc: false });
    expect(parseSort("tokens")).toEqual({ key: "tokens", desc: true });
    expect(parseSort("name:asc")).toEqual({ key: "started", desc: true });
    expect(parseSort(undefined)).toEqual({ key: "started", desc: true });
  });
  it("reads datetime-local values as local time and rejects others", () => {
    expect(localToUnix("2026-12-01T10:00")).toBe(Math.floor(new Date(2026, 11, 1, 10, 0).getTime() / 1000));
    expect(localToUnix("")).toBeUndefined();
    expect(localToUnix("yesterday")).toBeUndefined();
  });
  it("always shows the date with the time", () => {
    const ms = new Date(2026, 11, 1, 9, 5, 7).getTime();
    expect(formatDateTime(ms)).toBe("2026-12-01 09:05:07");
    expect(formatDateTime(String(BigInt(ms) * 1_000_000n))).toBe("2026-12-01 09:05:07");
  });
});
