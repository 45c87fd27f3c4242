import { describe, expect, it } from "vitest";
import { TURN_BUDGET_MS, Turns } from "../../src/api/turn.ts";

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* spin */
  }
}

describe("Turns", () => {
  it("yields every N units of cheap work", async () => {
    const turns = new Turns(3);
    expect(turns.add(1)).toBeUndefined();
    expect(turns.add(1)).toBeUndefined();
    const turn = turns.add(1);
    expect(turn).toBeInstanceOf(Promise);
    await turn;
    expect(turns.add(2)).toBeUndefined();
  });

  it("yields once expensive units have held the loop for the time budget, before N of them", async () => {
    const turns = new Turns(1_000_000);
    // Work that arrived while the loop ran (an ingest request, say) runs before it goes on.
    let ran = false;
    setImmediate(() => {
      ran = true;
    });
    expect(turns.add(1)).toBeUndefined();
    busy(TURN_BUDGET_MS + 2);
    const turn = turns.add(1);
    expect(turn).toBeInstanceOf(Promise);
    await turn;
    expect(ran).toBe(true);
    // The budget starts again after the turn.
    expect(turns.add(1)).toBeUndefined();
  });
});
