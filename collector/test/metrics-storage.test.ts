import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../src/log.ts";
import { createCollectorMetrics } from "../src/metrics.ts";
import { decodeMetricsJson } from "../src/otlp/decode-metrics-json.ts";
import { MetricsPipeline } from "../src/pipeline/metrics-ingest.ts";
import { PermanentWriteError, StorageUnavailableError } from "../src/pipeline/writer.ts";
import type { Storage } from "../src/storage/client.ts";
import { applyRetention, ttlDays } from "../src/storage/retention.ts";
import { METRICS_TABLES } from "../src/storage/schema.ts";
import { queryRows } from "../src/storage/sql.ts";
import { openTestStorage } from "./support/storage.ts";

// Recent: points older than the retention are dropped by the TTL as they are inserted.
const NOW_S = Math.floor(Date.now() / 1000) - 60;
const T = `${NOW_S}000000000`;
const START = `${NOW_S - 3600}000000000`;
const kv = (key: string, v: string) => ({ key, value: { stringValue: v } });

function request(resource: Record<string, string>, metrics: unknown[]): string {
  return JSON.stringify({
    resourceMetrics: [
      {
        resource: { attributes: Object.entries(resource).map(([k, v]) => kv(k, v)) },
        scopeMetrics: [{ scope: { name: "s", version: "1" }, metrics }],
      },
    ],
  });
}

const ALL_KINDS = [
  {
    name: "g",
    unit: "1",
    gauge: { dataPoints: [{ timeUnixNano: T, asDouble: "NaN", attributes: [kv("a", "x\ty'")] }] },
  },
  {
    name: "c",
    sum: {
      isMonotonic: true,
      aggregationTemporality: 2,
      dataPoints: [
        {
          startTimeUnixNano: START,
          timeUnixNano: T,
          asInt: "9007199254740991",
          exemplars: [{ timeUnixNano: T, asDouble: 1.5, spanId: "0102030405060708", traceId: "ab".repeat(16) }],
        },
      ],
    },
  },
  {
    name: "h",
    histogram: {
      aggregationTemporality: 1,
      dataPoints: [
        { timeUnixNano: T, count: "3", sum: 6, bucketCounts: ["1", "2"], explicitBounds: [2], min: 1, max: 3 },
      ],
    },
  },
  {
    name: "e",
    exponentialHistogram: {
      aggregationTemporality: 2,
      dataPoints: [
        {
          timeUnixNano: T,
          count: "4",
          sum: 10,
          scale: 3,
          zeroCount: "1",
          positive: { offset: -2, bucketCounts: ["1", "2"] },
        },
      ],
    },
  },
  {
    name: "s",
    summary: { dataPoints: [{ timeUnixNano: T, count: "2", sum: 3, quantileValues: [{ quantile: 0.5, value: 1.5 }] }] },
  },
];

describe("metric points in storage", () => {
  let store: Awaited<ReturnType<typeof openTestStorage>>;
  let storage: Storage;
  beforeAll(async () => {
    store = await openTestStorage("metrics");
    storage = store.storage;
  }, 60_000);
  afterAll(async () => {
    await store.close();
  });

  const pipeline = (s: Storage = storage) =>
    new MetricsPipeline(s, createCollectorMetrics(), silentLogger, { agents: new Map() });

  it("every kind is written into its table with the exporter's columns, and read back as sent", async () => {
    const result = await pipeline().submit(
      decodeMetricsJson(request({ "service.name": "svc", "cognive.team": "resource-team" }, ALL_KINDS)),
      { team: "key-team" },
      "test",
    );
    expect(result).toMatchObject({ accepted: 5, rejected: 0 });
    const [g] = await queryRows<Record<string, unknown>>(
      storage,
      `SELECT ServiceName, MetricName, MetricUnit, Attributes, Value, TeamName, ScopeName FROM cognive.${METRICS_TABLES.gauge}`,
    );
    // The key's team wins over the resource's.
    expect(g).toMatchObject({ ServiceName: "svc", MetricName: "g", Attributes: { a: "x\ty'" }, TeamName: "key-team" });
    expect(g.Value).toBeNull(); // NaN: JSON has no NaN, the client maps it to null
    const [c] = await queryRows<Record<string, unknown>>(
      storage,
      `SELECT Value, IsMonotonic, AggregationTemporality, toString(StartTimeUnix) AS S, Exemplars.Value AS EV, Exemplars.SpanId AS ES
       FROM cognive.${METRICS_TABLES.sum}`,
    );
    expect(c).toMatchObject({ Value: 9007199254740991, IsMonotonic: true, AggregationTemporality: 2, EV: [1.5] });
    expect(c.S).toBe(`${new Date((NOW_S - 3600) * 1000).toISOString().slice(0, 19).replace("T", " ")}.000000000`);
    expect(c.ES).toEqual(["0102030405060708"]);
    const [h] = await queryRows<Record<string, unknown>>(
      storage,
      `SELECT Count, Sum, BucketCounts, ExplicitBounds, Min, Max, AggregationTemporality FROM cognive.${METRICS_TABLES.histogram}`,
    );
    expect(h).toEqual({
      Count: "3",
      Sum: 6,
      BucketCounts: ["1", "2"],
      ExplicitBounds: [2],
      Min: 1,
      Max: 3,
      AggregationTemporality: 1,
    });
    const [e] = await queryRows<Record<string, unknown>>(
      storage,
      `SELECT Scale, ZeroCount, PositiveOffset, PositiveBucketCounts FROM cognive.${METRICS_TABLES.exponentialHistogram}`,
    );
    expect(e).toEqual({ Scale: 3, ZeroCount: "1", PositiveOffset: -2, PositiveBucketCounts: ["1", "2"] });
    const [s] = await queryRows<Record<string, unknown>>(
      storage,
      `SELECT Count, ValueAtQuantiles.Quantile AS Q, ValueAtQuantiles.Value AS V FROM cognive.${METRICS_TABLES.summary}`,
    );
    expect(s).toEqual({ Count: "2", Q: [0.5], V: [1.5] });
  });

  it("points that storage could not hold are rejected alone, with reasons; the rest are stored", async () => {
    const bad = [
      {
        name: "bad",
        sum: {
          isMonotonic: true,
          dataPoints: [
            { timeUnixNano: "18446744073709551615", asInt: "1" },
            { asInt: "1" },
            { timeUnixNano: T, asDouble: "NaN" },
            { timeUnixNano: T, asInt: "-5" },
            { timeUnixNano: T, asInt: "7", attributes: [kv("kept", "yes")] },
          ],
        },
      },
      {
        name: "hb",
        histogram: {
          dataPoints: [{ timeUnixNano: T, count: "1", bucketCounts: ["1", "0", "0"], explicitBounds: [1] }],
        },
      },
      { name: "eb", exponentialHistogram: { dataPoints: [{ timeUnixNano: T, count: "1", scale: 99 }] } },
      { sum: { dataPoints: [{ timeUnixNano: T, asInt: "1" }] } },
    ];
    const result = await pipeline().submit(decodeMetricsJson(request({}, bad)), { team: null }, "test");
    expect(result.accepted).toBe(1);
    expect(result.rejected).toBe(7);
    expect(result.errorMessage).toContain("outside DateTime64");
    expect(result.errorMessage).toContain("without timeUnixNano");
    expect(result.errorMessage).toContain("must be finite and not negative");
    expect(result.errorMessage).toContain("3 bucket counts for 1 bounds");
    expect(result.errorMessage).toContain("scale 99");
    expect(result.errorMessage).toContain("metric without a name");
    const rows = await queryRows<{ n: string }>(
      storage,
      `SELECT count() AS n FROM cognive.${METRICS_TABLES.sum} WHERE MetricName = 'bad' AND Attributes['kept'] = 'yes'`,
    );
    expect(rows[0].n).toBe("1");
  });

  it("a storage failure answers unavailable and stays so until a probe writes; refused rows are permanent", async () => {
    let fail: Error | null = new Error("Code: 243. DB::Exception: Cannot reserve space (NOT_ENOUGH_SPACE)");
    const flaky: Storage = {
      ...storage,
      insertTsv: (t, c, b) => (fail ? Promise.reject(fail) : storage.insertTsv(t, c, b)),
    };
    const p = pipeline(flaky);
    const req = () => decodeMetricsJson(request({}, [ALL_KINDS[0]]));
    await expect(p.submit(req(), { team: null }, "test")).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(p.writer.healthy).toBe(false);
    await expect(p.submit(req(), { team: null }, "test")).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(await p.writer.probe()).toBe(false);
    fail = null;
    expect(await p.writer.probe()).toBe(true);
    await expect(p.submit(req(), { team: null }, "test")).resolves.toMatchObject({ accepted: 1 });
    fail = new Error("Code: 27. DB::Exception: Cannot parse input");
    await expect(p.submit(req(), { team: null }, "test")).rejects.toBeInstanceOf(PermanentWriteError);
    expect(p.writer.healthy).toBe(true);
  });

  it("COGNIVE_METRICS_RETENTION_DAYS changes the tables' TTL only when it differs", async () => {
    const ttl = async () =>
      (
        await queryRows<{ q: string }>(
          storage,
          "SELECT create_table_query AS q FROM system.tables WHERE database = 'cognive' AND name LIKE 'otel_metrics_%'",
        )
      ).map((r) => ttlDays(r.q));
    expect(await ttl()).toEqual([30, 30, 30, 30, 30]);
    expect(await applyRetention(storage, { metrics: 30 })).toEqual([]);
    expect((await applyRetention(storage, { metrics: 7 })).sort()).toEqual(Object.values(METRICS_TABLES).sort());
    expect(await ttl()).toEqual([7, 7, 7, 7, 7]);
    expect(await applyRetention(storage, { metrics: 7 })).toEqual([]);
    await expect(applyRetention(storage, { metrics: 0 })).rejects.toThrow(/invalid/);
  });
});
