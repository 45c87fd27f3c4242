import { describe, expect, it } from "vitest";
import { postRaw } from "../helpers/http.ts";
import { getJson, useTestServer } from "../helpers/server.ts";
import { JSON_CT, makeWorkload } from "./workload.ts";

const server = useTestServer();
const nowNs = BigInt(Date.now()) * 1_000_000n;
const DAY_NS = 86_400_000_000_000n;
const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

function body(spans: object[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: "poison" } }] },
          scopeSpans: [{ scope: { name: "poison" }, spans }],
        },
      ],
    }),
  );
}

let next = 1;
function span(over: Record<string, unknown> = {}) {
  const id = next++;
  return {
    traceId: hex(0xbad, 8) + hex(id, 24),
    spanId: hex(id, 16),
    name: "poison",
    kind: 1,
    startTimeUnixNano: String(nowNs),
    endTimeUnixNano: String(nowNs + 1_000_000n),
    ...over,
  };
}

/** Each kind of span that once failed a whole shared insert, as one request. */
const POISON: Record<string, () => Buffer> = {
  "an event at time 0": () => body([span({ events: [{ timeUnixNano: "0", name: "e" }] })]),
  "a start 1 s after the epoch": () => body([span({ startTimeUnixNano: "1000000000", endTimeUnixNano: "1000000100" })]),
  "a start at 2^63 ns": () =>
    body([span({ startTimeUnixNano: String(2n ** 63n), endTimeUnixNano: String(2n ** 63n + 5n) })]),
  "a start after 2106": () =>
    body([
      span({
        startTimeUnixNano: String(4_400_000_000n * 1_000_000_000n),
        endTimeUnixNano: String(4_400_000_000n * 1_000_000_000n + 5n),
      }),
    ]),
  "an end at 2^64 − 1 ns": () => body([span({ endTimeUnixNano: String(2n ** 64n - 1n) })]),
  "a request spanning 101 days": () =>
    body(
      Array.from({ length: 101 }, (_, d) =>
        span({
          startTimeUnixNano: String(nowNs - BigInt(d) * DAY_NS),
          endTimeUnixNano: String(nowNs - BigInt(d) * DAY_NS + 5n),
        }),
      ),
    ),
};

const poisonSpans = (name: string) => (name === "a request spanning 101 days" ? 101 - 31 : 1);

describe("poison spans interleaved with honest traffic", () => {
  it("refuses each poison span as permanent (partial success, never retried) and answers every honest request 200", async () => {
    const honest = makeWorkload(60, 7);
    const poison = Object.entries(POISON).flatMap(([name, make]) => Array.from({ length: 4 }, () => ({ name, make })));
    const answers: Promise<void>[] = [];
    let readyOk = 0;
    const readyBad: string[] = [];
    const probe = setInterval(async () => {
      const r = await fetch(`${server().otlpUrl}/readyz`);
      if (r.status === 200) readyOk++;
      else readyBad.push(`${r.status} ${await r.text()}`);
    }, 25);
    for (let i = 0; i < Math.max(honest.length, poison.length); i++) {
      if (i < honest.length) {
        answers.push(
          postRaw(`${server().otlpUrl}/v1/traces`, honest[i].body, JSON_CT).then((r) => {
            expect(r.status, "honest request").toBe(200);
            expect(JSON.parse(r.body.toString())).toEqual({});
          }),
        );
      }
      const p = poison[i];
      if (p) {
        answers.push(
          postRaw(`${server().otlpUrl}/v1/traces`, p.make(), JSON_CT).then((r) => {
            expect(r.status, p.name).toBe(200);
            const partial = JSON.parse(r.body.toString()).partialSuccess;
            expect(Number(partial.rejectedSpans), p.name).toBe(poisonSpans(p.name));
            expect(partial.errorMessage, p.name).toMatch(/outside the storable range|more than 31 UTC days/);
          }),
        );
      }
      if (i % 8 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(answers);
    clearInterval(probe);
    expect(readyBad).toEqual([]);
    expect(readyOk).toBeGreaterThan(0);
    for (const w of honest.slice(0, 5)) {
      const t = await getJson(`${server().queryUrl}/api/v1/traces/${w.traceId}`);
      expect(t.body.spans).toHaveLength(20);
    }
  }, 60_000);

  it("stores 2^53 − 1 tokens unpriced and marked invalid instead of pricing them", async () => {
    const before = await metric("cognive_spans_usage_invalid_total");
    const s = span({
      name: "chat gpt-4o",
      attributes: [
        { key: "gen_ai.operation.name", value: { stringValue: "chat" } },
        { key: "gen_ai.provider.name", value: { stringValue: "openai" } },
        { key: "gen_ai.request.model", value: { stringValue: "gpt-4o" } },
        { key: "gen_ai.usage.input_tokens", value: { intValue: "10" } },
        { key: "gen_ai.usage.output_tokens", value: { intValue: String(2 ** 53 - 1) } },
      ],
    });
    const r = await postRaw(`${server().otlpUrl}/v1/traces`, body([s]), JSON_CT);
    expect(r.status).toBe(200);
    const t = await getJson(`${server().queryUrl}/api/v1/traces/${s.traceId}`);
    const stored = t.body.spans[0];
    expect(stored.genAi.priced).toBe(false);
    expect(stored.genAi.costUsd).toBeNull();
    expect(stored.genAi.outputTokens).toBe(0);
    expect(stored.attributes["cognive.usage.invalid"]).toMatch(/above the 100000000 tokens-per-call ceiling/);
    expect(t.body.summary.costUsd).toBe(0);
    expect(await metric("cognive_spans_usage_invalid_total")).toBe(before + 1);
  });

  it("refuses a far-future span and keeps its honest neighbour", async () => {
    const far = span({ startTimeUnixNano: String(4_300_000_000n * 1_000_000_000n) });
    const fine = span();
    const r = await postRaw(`${server().otlpUrl}/v1/traces`, body([far, fine]), JSON_CT);
    expect(r.status).toBe(200);
    expect(Number(JSON.parse(r.body.toString()).partialSuccess.rejectedSpans)).toBe(1);
    expect((await getJson(`${server().queryUrl}/api/v1/traces/${far.traceId}`)).status).toBe(404);
    expect((await getJson(`${server().queryUrl}/api/v1/traces/${fine.traceId}`)).status).toBe(200);
  });
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${server().otlpUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

describe("a client that goes away mid-upload", () => {
  it("is counted as aborted (not a server error) and the next request is served", async () => {
    const before = await metric("cognive_otlp_requests_aborted_total");
    const { request } = await import("node:http");
    await new Promise<void>((resolve) => {
      const req = request(`${server().otlpUrl}/v1/traces`, {
        method: "POST",
        headers: { ...JSON_CT, "content-length": "100000" },
      });
      req.on("error", () => resolve());
      req.write(Buffer.alloc(1000, 32));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 100);
    });
    const deadline = Date.now() + 5000;
    while ((await metric("cognive_otlp_requests_aborted_total")) === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await metric("cognive_otlp_requests_aborted_total")).toBe(before + 1);
    const ok = await postRaw(`${server().otlpUrl}/v1/traces`, body([span()]), JSON_CT);
    expect(ok.status).toBe(200);
  });
});
