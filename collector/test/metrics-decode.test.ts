import { JsonMetricsSerializer, ProtobufMetricsSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AggregationTemporality,
  AggregationType,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import protobuf from "protobufjs/minimal.js";
import { describe, expect, it } from "vitest";
import { decodeMetricsJson } from "../src/otlp/decode-metrics-json.ts";
import { decodeMetricsProto } from "../src/otlp/decode-metrics-proto.ts";
import { type DecodedMetric, type DecodedMetrics, MAX_POINT_BUCKETS } from "../src/otlp/metrics-model.ts";
import { DecodeError } from "../src/otlp/model.ts";

/** Times in hand-encoded messages are written as two fixed32 halves: protobufjs takes no bigint. */
class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** Metrics of every kind the official SDK makes, collected once. */
async function sdkMetrics(temporality: AggregationTemporality): Promise<ResourceMetrics> {
  const reader = new TestReader({ aggregationTemporalitySelector: () => temporality });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ "service.name": "metrics-test", "cognive.team": "alpha" }),
    readers: [reader],
    views: [{ instrumentName: "exp.latency", aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
  });
  const meter = provider.getMeter("scope-m", "0.1.0");
  const tokens = meter.createCounter("gen_ai.client.token.usage.total", { unit: "{token}" });
  tokens.add(100, { "gen_ai.token.type": "input", "gen_ai.request.model": "gpt-4o-mini" });
  tokens.add(25, { "gen_ai.token.type": "output", "gen_ai.request.model": "gpt-4o-mini" });
  const queue = meter.createUpDownCounter("queue.depth");
  queue.add(5);
  queue.add(-2);
  const temp = meter.createGauge("cpu.temperature", { unit: "Cel", valueType: 1 });
  temp.record(61.5, { core: 0 });
  const duration = meter.createHistogram("gen_ai.client.operation.duration", {
    unit: "s",
    advice: { explicitBucketBoundaries: [0.1, 1, 10] },
  });
  duration.record(0.05);
  duration.record(0.5);
  duration.record(3);
  const exp = meter.createHistogram("exp.latency", { unit: "ms" });
  for (const v of [1, 2, 4, 8, 100]) exp.record(v);
  const { resourceMetrics } = await reader.collect();
  await provider.shutdown();
  return resourceMetrics;
}

const byName = (d: DecodedMetrics, name: string): DecodedMetric => {
  const m = d.resourceMetrics[0].scopeMetrics[0].metrics.find((x) => x.name === name);
  if (!m) throw new Error(`no metric ${name}`);
  return m;
};

describe("OTLP metrics decoders", () => {
  for (const [label, temporality, want] of [
    ["cumulative", AggregationTemporality.CUMULATIVE, 2],
    ["delta", AggregationTemporality.DELTA, 1],
  ] as const) {
    it(`decode what the official SDK sends (${label}), the same from protobuf and JSON`, async () => {
      const rm = await sdkMetrics(temporality);
      const proto = decodeMetricsProto(ProtobufMetricsSerializer.serializeRequest(rm) as Uint8Array);
      const json = decodeMetricsJson(new TextDecoder().decode(JsonMetricsSerializer.serializeRequest(rm)));
      expect(json).toEqual(proto);
      expect(proto.resourceMetrics[0].resource).toMatchObject({
        "service.name": "metrics-test",
        "cognive.team": "alpha",
      });
      const sm = proto.resourceMetrics[0].scopeMetrics[0];
      expect([sm.scopeName, sm.scopeVersion]).toEqual(["scope-m", "0.1.0"]);

      const tokens = byName(proto, "gen_ai.client.token.usage.total");
      expect(tokens).toMatchObject({ kind: "sum", monotonic: true, temporality: want, unit: "{token}" });
      expect(tokens.points.map((p) => [p.attributes["gen_ai.token.type"], p.value]).sort()).toEqual([
        ["input", 100],
        ["output", 25],
      ]);
      expect(tokens.points[0].timeNs).toBeGreaterThan(1_600_000_000_000_000_000n);
      expect(tokens.points[0].startNs).toBeGreaterThan(0n);

      expect(byName(proto, "queue.depth")).toMatchObject({ kind: "sum", monotonic: false });
      expect(byName(proto, "queue.depth").points[0].value).toBe(3);
      const temp = byName(proto, "cpu.temperature");
      expect(temp.kind).toBe("gauge");
      expect(temp.points[0]).toMatchObject({ value: 61.5, attributes: { core: 0 } });

      const h = byName(proto, "gen_ai.client.operation.duration");
      expect(h).toMatchObject({ kind: "histogram", temporality: want, unit: "s" });
      expect(h.points[0]).toMatchObject({
        count: 3,
        sum: 3.55,
        min: 0.05,
        max: 3,
        explicitBounds: [0.1, 1, 10],
        bucketCounts: [1, 1, 1, 0],
      });

      const e = byName(proto, "exp.latency");
      expect(e.kind).toBe("exponentialHistogram");
      const ep = e.points[0];
      expect(ep.count).toBe(5);
      expect(ep.sum).toBe(115);
      expect(ep.positive.counts.reduce((a, b) => a + b, 0) + ep.zeroCount).toBe(5);
      expect(ep.scale).toBeLessThanOrEqual(20);
    });
  }

  it("decode a summary and int points with exemplars from protobuf and JSON alike", () => {
    // Hand-encoded: the JS SDK makes no summaries.
    const kv = (k: string, v: string) =>
      protobuf.Writer.create()
        .uint32(10)
        .string(k)
        .uint32(18)
        .bytes(protobuf.Writer.create().uint32(10).string(v).finish())
        .finish();
    const q = (quantile: number, value: number) =>
      protobuf.Writer.create().uint32(9).double(quantile).uint32(17).double(value).finish();
    const summaryPoint = protobuf.Writer.create()
      .uint32(58)
      .bytes(kv("route", "/a"))
      .uint32(17)
      .fixed32(908722176)
      .fixed32(395812094)
      .uint32(25)
      .fixed32(779180032)
      .fixed32(395812108)
      .uint32(33)
      .fixed64(10)
      .uint32(41)
      .double(12.5)
      .uint32(50)
      .bytes(q(0.5, 1))
      .uint32(50)
      .bytes(q(0.99, 4))
      .finish();
    const exemplar = protobuf.Writer.create()
      .uint32(17)
      .fixed32(4074147328)
      .fixed32(395812107)
      .uint32(49)
      .sfixed64(-7)
      .uint32(34)
      .bytes(Buffer.from("0102030405060708", "hex"))
      .uint32(42)
      .bytes(Buffer.from("0102030405060708090a0b0c0d0e0f10", "hex"))
      .finish();
    const gaugePoint = protobuf.Writer.create()
      .uint32(25)
      .fixed32(779180032)
      .fixed32(395812108)
      .uint32(49)
      .sfixed64(-42)
      .uint32(42)
      .bytes(exemplar)
      .uint32(64)
      .uint32(1)
      .finish();
    const metric = (name: string, field: number, data: Uint8Array) =>
      protobuf.Writer.create()
        .uint32(10)
        .string(name)
        .uint32((field << 3) | 2)
        .bytes(data)
        .finish();
    const scope = protobuf.Writer.create()
      .uint32(18)
      .bytes(metric("rpc.latency", 11, protobuf.Writer.create().uint32(10).bytes(summaryPoint).finish()))
      .uint32(18)
      .bytes(metric("balance", 5, protobuf.Writer.create().uint32(10).bytes(gaugePoint).finish()))
      .finish();
    const body = protobuf.Writer.create()
      .uint32(10)
      .bytes(protobuf.Writer.create().uint32(18).bytes(scope).finish())
      .finish();
    const proto = decodeMetricsProto(body);
    const json = decodeMetricsJson(
      JSON.stringify({
        resourceMetrics: [
          {
            scopeMetrics: [
              {
                metrics: [
                  {
                    name: "rpc.latency",
                    summary: {
                      dataPoints: [
                        {
                          attributes: [{ key: "route", value: { stringValue: "/a" } }],
                          startTimeUnixNano: "1700000000000000000",
                          timeUnixNano: "1700000060000000000",
                          count: "10",
                          sum: 12.5,
                          quantileValues: [
                            { quantile: 0.5, value: 1 },
                            { quantile: 0.99, value: 4 },
                          ],
                        },
                      ],
                    },
                  },
                  {
                    name: "balance",
                    gauge: {
                      dataPoints: [
                        {
                          timeUnixNano: "1700000060000000000",
                          asInt: "-42",
                          flags: 1,
                          exemplars: [
                            {
                              timeUnixNano: "1700000059000000000",
                              asInt: "-7",
                              spanId: "0102030405060708",
                              traceId: "0102030405060708090A0B0C0D0E0F10",
                            },
                          ],
                        },
                      ],
                    },
                  },
                ],
              },
            ],
          },
        ],
      }),
    );
    expect(json).toEqual(proto);
    const s = byName(proto, "rpc.latency");
    expect(s.kind).toBe("summary");
    expect(s.points[0]).toMatchObject({
      count: 10,
      sum: 12.5,
      startNs: 1_700_000_000_000_000_000n,
      quantiles: [
        { quantile: 0.5, value: 1 },
        { quantile: 0.99, value: 4 },
      ],
    });
    const g = byName(proto, "balance").points[0];
    expect(g).toMatchObject({ value: -42, flags: 1 });
    expect(g.exemplars).toEqual([
      {
        filteredAttributes: {},
        timeNs: 1_700_000_059_000_000_000n,
        value: -7,
        spanId: "0102030405060708",
        traceId: "0102030405060708090a0b0c0d0e0f10",
      },
    ]);
  });
});

describe("OTLP metrics decoders on hostile input", () => {
  it("reject garbage and truncated protobuf with DecodeError", () => {
    expect(() => decodeMetricsProto(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 1, 2]))).toThrow(DecodeError);
    expect(() => decodeMetricsProto(Buffer.from("definitely not protobuf at all"))).toThrow(DecodeError);
    // resource_metrics with a varint wire type instead of a message.
    expect(() => decodeMetricsProto(Buffer.from([0x08, 0x01]))).toThrow(/wire type/);
  });

  it("reject 10k-deep kvlists without recursing that deep", () => {
    let v = protobuf.Writer.create().uint32(10).string("leaf").finish();
    for (let i = 0; i < 10_000; i++) {
      const kv = protobuf.Writer.create().uint32(10).string("k").uint32(18).bytes(v).finish();
      const list = protobuf.Writer.create().uint32(10).bytes(kv).finish();
      v = protobuf.Writer.create().uint32(50).bytes(list).finish();
    }
    const attr = protobuf.Writer.create().uint32(10).string("deep").uint32(18).bytes(v).finish();
    const resource = protobuf.Writer.create().uint32(10).bytes(attr).finish();
    const body = protobuf.Writer.create()
      .uint32(10)
      .bytes(protobuf.Writer.create().uint32(10).bytes(resource).finish())
      .finish();
    expect(() => decodeMetricsProto(body)).toThrow(/nested too deeply/);

    const open = '{"kvlistValue":{"values":[{"key":"k","value":'.repeat(10_000);
    const text = `{"resourceMetrics":[{"resource":{"attributes":[{"key":"deep","value":${open}{}${"}]}}".repeat(10_000)}}]}}]}`;
    // JSON.parse copes; the decoder stops at its depth bound (deeper values read as null) and keeps the request.
    const d = decodeMetricsJson(text);
    expect(d.resourceMetrics[0].resource.deep).toBeTypeOf("object");
  }, 30_000); // building a 10k-deep message by hand copies it at every level: seconds on a busy machine

  it("reject only the point whose bucket array is huge, keeping memory bounded", () => {
    const w = protobuf.Writer.create();
    const packed = protobuf.Writer.create();
    for (let i = 0; i < 200_000; i++) packed.double(i);
    w.uint32(25).fixed32(908722176).fixed32(395812094);
    w.uint32(58).bytes(packed.finish());
    const point = w.finish();
    const hist = protobuf.Writer.create().uint32(10).bytes(point).uint32(16).int32(2).finish();
    const metric = protobuf.Writer.create().uint32(10).string("h").uint32(74).bytes(hist).finish();
    const body = protobuf.Writer.create()
      .uint32(10)
      .bytes(
        protobuf.Writer.create().uint32(18).bytes(protobuf.Writer.create().uint32(18).bytes(metric).finish()).finish(),
      )
      .finish();
    const p = byName(decodeMetricsProto(body), "h").points[0];
    expect(p.explicitBounds.length).toBe(MAX_POINT_BUCKETS);
    expect(p.invalid).toMatch(/more than 4096 buckets/);

    const json = decodeMetricsJson(
      JSON.stringify({
        resourceMetrics: [
          {
            scopeMetrics: [
              {
                metrics: [
                  {
                    name: "h",
                    histogram: { dataPoints: [{ timeUnixNano: "1", bucketCounts: new Array(50_000).fill("1") }] },
                  },
                ],
              },
            ],
          },
        ],
      }),
    );
    expect(byName(json, "h").points[0].invalid).toMatch(/more than 4096 buckets/);
  });

  it("JSON: a wrong shape is a DecodeError, a wrongly typed point field rejects that point alone", () => {
    expect(() => decodeMetricsJson("{")).toThrow(DecodeError);
    expect(() => decodeMetricsJson("[]")).toThrow(/must be an object/);
    expect(() => decodeMetricsJson('{"resourceMetrics":{}}')).toThrow(/must be an array/);
    expect(() =>
      decodeMetricsJson('{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","sum":[]}]}]}]}'),
    ).toThrow(/sum must be an object/);
    const d = decodeMetricsJson(
      JSON.stringify({
        resourceMetrics: [
          {
            scopeMetrics: [
              {
                metrics: [
                  {
                    name: "x",
                    sum: {
                      isMonotonic: true,
                      aggregationTemporality: "AGGREGATION_TEMPORALITY_CUMULATIVE",
                      dataPoints: [
                        { timeUnixNano: "1700000000000000000", asInt: "12" },
                        { timeUnixNano: "yesterday", asInt: "1" },
                        { timeUnixNano: "1700000000000000000", asDouble: { no: 1 } },
                        { timeUnixNano: "1700000000000000000", asInt: "1.5" },
                        { timeUnixNano: "1700000000000000000", asDouble: "NaN" },
                      ],
                    },
                  },
                ],
              },
            ],
          },
        ],
      }),
    );
    const m = byName(d, "x");
    expect(m.temporality).toBe(2);
    expect(m.points.map((p) => p.invalid ?? "ok")).toEqual([
      "ok",
      "timeUnixNano is not an unsigned integer",
      "asDouble is not a number",
      "asInt is not an integer",
      "ok",
    ]);
    expect(m.points[4].value).toBeNaN();
  });
});
