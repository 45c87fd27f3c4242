import { describe, expect, it } from "vitest";
import { parseRoute } from "../src/route.ts";

describe("parseRoute", () => {
  it("maps each view's hash to the view", () => {
    for (const v of ["overview", "agents", "traces", "sessions", "costs", "budgets", "alerts"]) {
      expect(parseRoute(`#/${v}`).view).toBe(v);
    }
  });

  it("lands on the overview for an empty, bare or unknown hash", () => {
    expect(parseRoute("").view).toBe("overview");
    expect(parseRoute("#").view).toBe("overview");
    expect(parseRoute("#/").view).toBe("overview");
    expect(parseRoute("#/nope").view).toBe("overview");
  });

  it("reads a trace id from #/traces/<id>, lower-cased, and ignores ids that are not 32 hex digits", () => {
    const id = "0AF7651916CD43DD8448EB211C80319C";
    expect(parseRoute(`#/traces/${id}`)).toMatchObject({ view: "traces", traceId: id.toLowerCase() });
    expect(parseRoute("#/traces/xyz").traceId).toBeUndefined();
    expect(parseRoute(`#/traces/${id}0`).traceId).toBeUndefined();
  });

  it("reads a session id from #/sessions/<id>, decoded", () => {
    expect(parseRoute("#/sessions/conv%2F1%20a")).toMatchObject({ view: "sessions", sessionId: "conv/1 a" });
    expect(parseRoute("#/sessions").sessionId).toBeUndefined();
  });

  it("keeps the options after ? for deep links into a view", () => {
    const r = parseRoute("#/costs?groupBy=agent&range=7d");
    expect(r.view).toBe("costs");
    expect(r.params.get("groupBy")).toBe("agent");
    expect(r.params.get("range")).toBe("7d");
  });
});
