import { describe, expect, it } from "vitest";
import { SpanKeySet } from "../src/governance/counters.ts";
import { hashString128, KeyTable } from "../src/key-table.ts";

const keyOf = (s: string) => Array.from(hashString128(s, new Uint32Array(4))).join(",");

describe("hashString128", () => {
  it("gives the same string the same key and 300,000 span keys 300,000 keys", () => {
    expect(keyOf("0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331")).toBe(
      keyOf("0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331"),
    );
    const seen = new Set<string>();
    for (let t = 0; t < 30_000; t++) {
      const traceId = t.toString(16).padStart(32, "0");
      // Tracers that number their spans 1, 2, 3… within each trace.
      for (let s = 1; s <= 10; s++) seen.add(keyOf(`${traceId}:${s.toString(16).padStart(16, "0")}`));
    }
    expect(seen.size).toBe(300_000);
  });

  it("tells apart strings that differ in length, order, a last odd character or the high bits of one", () => {
    const strings = [
      "",
      "a",
      "a\u0000",
      "\u0000a",
      "ab",
      "ba",
      "abc",
      "abd",
      "ab\u0100",
      "ab\u0001",
      "\u{1f600}",
      "aé",
    ];
    expect(new Set(strings.map(keyOf)).size).toBe(strings.length);
  });
});

describe("KeyTable", () => {
  it("keeps a value per key, counts keys once, and is full at half its capacity", () => {
    const t = new KeyTable(8);
    const k = (s: string) => hashString128(s, new Uint32Array(4));
    t.set(k("x"), 7);
    t.set(k("x"), 9);
    t.set(k("y"), 3);
    expect([t.get(k("x")), t.get(k("y")), t.get(k("z"))]).toEqual([9, 3, 0]);
    expect([t.count, t.minId, t.full]).toEqual([2, 3, false]);
    t.set(k("z"), 1);
    t.set(k("w"), 1);
    expect(t.full).toBe(true);
    t.clear();
    expect([t.count, t.get(k("x"))]).toEqual([0, 0]);
  });
});

describe("SpanKeySet at capacity", () => {
  it("remembers the last half of its capacity of 200,000 span keys and forgets older ones", () => {
    const s = new SpanKeySet(200_000);
    const key = (i: number) => `${i.toString(16).padStart(32, "0")}:${(i % 7).toString(16).padStart(16, "0")}`;
    let added = 0;
    for (let i = 0; i < 350_000; i++) if (s.add(key(i))) added++;
    expect(added).toBe(350_000);
    expect(s.size).toBeLessThanOrEqual(200_000);
    let remembered = 0;
    for (let i = 250_000; i < 350_000; i++) if (s.has(key(i))) remembered++;
    expect(remembered).toBe(100_000);
    expect(s.has(key(0))).toBe(false);
    expect(s.add(key(349_999))).toBe(false);
  });
});
