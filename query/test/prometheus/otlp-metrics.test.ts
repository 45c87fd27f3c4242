import { randomBytes } from "node:crypto";
import { METRICS_EXPORT_PATH } from "@cognive/collector";
import * as grpc from "@grpc/grpc-js";
import { OTLPMetricExporter as GrpcMetricExporter } from "@opentelemetry/exporter-metrics-otlp-grpc";
import { OTLPMetricExporter as JsonMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPMetricExporter as ProtoMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, MetricReader, type PushMetricExporter } from "@opentelemetry/sdk-metrics";
import protobuf from "protobufjs/minimal.js";
import { describe, expect, it } from "vitest";
import { agentRunBody } from "../helpers/agent-run.ts";
import { postRaw } from "../helpers/http.ts";
import { getJson, type TestServer, useTestServer } from "../helpers/server.ts";

/** Twenty minutes ago on a minute boundary: recent enough for the metrics retention and the lookback. */
const BASE = Math.floor(Date.now() / 60_000) * 60 - 20 * 60;
/** A point's time: `m` minutes and 5 s after BASE, in Unix ns. */
const at = (m: number) => `${BASE + m * 60 + 5}000000000`;
const sv = (key: string, v: string) => ({ key, value: { stringValue: v } });

function body(service: string, metrics: unknown[], extra: { key: string; value: unknown }[] = []): Buffer {
  return Buffer.from(
    JSON.stringify({
      resourceMetrics: [
        {
          resource: { attributes: [sv("service.name", service), sv("cognive.team", "alpha"), ...extra] },
          scopeMetrics: [{ scope: { name: "test" }, metrics }],
        },
      ],
    }),
  );
}

const cumulative = (points: [number, number][], start: string) =>
  points.map(([m, v]) => ({
    startTimeUnixNano: start,
    timeUnixNano: at(m),
    asInt: String(v),
    attributes: [sv("route", "/a")],
  }));

const METRICS = [
  {
    name: "app.requests",
    unit: "{request}",
    description: "Requests served.",
    sum: {
      isMonotonic: true,
      aggregationTemporality: 2,
      dataPoints: [
        ...cumulative(
          [
            [0, 100],
            [1, 110],
            [2, 130],
            [3, 160],
            [4, 200],
          ],
          `${BASE - 7200}000000000`,
        ),
        // A restart: a new start time and the count from zero.
        ...cumulative(
          [
            [5, 7],
            [6, 17],
          ],
          `${BASE + 5 * 60}000000000`,
        ),
      ],
    },
  },
  {
    name: "jobs.done",
    sum: {
      isMonotonic: true,
      aggregationTemporality: "AGGREGATION_TEMPORALITY_DELTA",
      dataPoints: [1, 2, 3, 4].map((v, m) => ({ timeUnixNano: at(m), asDouble: v })),
    },
  },
  {
    name: "queue.depth",
    unit: "{item}",
    gauge: { dataPoints: [5, 8, 3].map((v, m) => ({ timeUnixNano: at(m), asInt: String(v) })) },
  },
  { name: "cache.hit", unit: "1", gauge: { dataPoints: [{ timeUnixNano: at(0), asDouble: 0.75 }] } },
  {
    name: "gen_ai.client.operation.duration",
    unit: "s",
    histogram: {
      aggregationTemporality: 2,
      dataPoints: [
        [1, 0, 0, 0.5],
        [2, 1, 0, 4],
        [2, 1, 1, 14],
      ].map(([a, b, c, sum], m) => ({
        startTimeUnixNano: `${BASE}000000000`,
        timeUnixNano: at(m),
        count: String(a + b + c),
        sum,
        bucketCounts: [a, b, c].map(String),
        explicitBounds: [1, 5],
        attributes: [sv("gen_ai.request.model", "gpt-4o-mini")],
      })),
    },
  },
  {
    name: "exp.latency",
    unit: "ms",
    exponentialHistogram: {
      aggregationTemporality: 1,
      dataPoints: [
        {
          timeUnixNano: at(0),
          count: "4",
          sum: 9,
          scale: 0,
          zeroCount: "1",
          positive: { offset: 0, bucketCounts: ["1", "2"] },
        },
      ],
    },
  },
  // Would be named like a span-derived series: `cognive_` names are Cognive's own, so it is not served.
  {
    name: "cognive.llm.calls",
    sum: { isMonotonic: true, aggregationTemporality: 1, dataPoints: [{ timeUnixNano: at(19), asInt: "100" }] },
  },
  {
    name: "rpc.duration",
    unit: "s",
    summary: {
      dataPoints: [
        {
          startTimeUnixNano: `${BASE}000000000`,
          timeUnixNano: at(0),
          count: "10",
          sum: 3,
          quantileValues: [
            { quantile: 0.5, value: 0.2 },
            { quantile: 0.99, value: 1.5 },
          ],
        },
      ],
    },
  },
];

/** An instant query, a minute from now unless `t` says when. */
async function prom(server: () => TestServer, query: string, t = Math.floor(Date.now() / 1000) + 60) {
  const { body } = await getJson(`${server().queryUrl}/api/v1/query?query=${encodeURIComponent(query)}&time=${t}`);
  expect(body.status, JSON.stringify(body)).toBe("success");
  return body.data.result as { metric: Record<string, string>; value: [number, string] }[];
}

/** The labels of the app.requests series: its attributes, the resource's and the source. */
const APP_REQUESTS = {
  __name__: "app_requests_total",
  route: "/a",
  service_name: "svc-m",
  job: "svc-m",
  team: "alpha",
  cognive_source: "otlp_metrics",
};

class OnceReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** One collection of an SDK counter and histogram, exported by an official exporter; resolves with its result code. */
async function exportWith(exporter: PushMetricExporter, service: string): Promise<{ code: number; error?: Error }> {
  const reader = new OnceReader();
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ "service.name": service }),
    readers: [reader],
  });
  const meter = provider.getMeter("sdk-test");
  meter.createCounter("sdk.calls", { unit: "{call}" }).add(3, { path: "/x" });
  meter.createHistogram("sdk.latency", { unit: "ms" }).record(12);
  const { resourceMetrics } = await reader.collect();
  const result = await new Promise<{ code: number; error?: Error }>((resolve) =>
    exporter.export(resourceMetrics, resolve),
  );
  await exporter.shutdown();
  await provider.shutdown();
  return result;
}

describe("OTLP metrics through the receivers and the Prometheus API", () => {
  const server = useTestServer();
  const promAt = (query: string, time: number) => prom(server, query, time);
  const value = async (query: string, time: number) => {
    const r = await promAt(query, time);
    expect(r, query).toHaveLength(1);
    return Number(r[0].value[1]);
  };

  it("POST /v1/metrics stores every kind and answers OK once stored", async () => {
    const res = await postRaw(`${server().otlpUrl}/v1/metrics`, body("svc-m", METRICS), {
      "content-type": "application/json",
    });
    expect(res.status, res.body.toString()).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({});
  });

  it("a counter reads by its Prometheus name; increase() is exact across a reset, for cumulative and delta points", async () => {
    const [r] = await promAt("app_requests_total", BASE + 6 * 60);
    expect(r.metric).toEqual(APP_REQUESTS);
    expect(await value("increase(app_requests_total[3m])", BASE + 4 * 60)).toBe(20 + 30 + 40);
    expect(await value("increase(app_requests_total[3m])", BASE + 6 * 60)).toBe(40 + 7 + 10);
    expect(await value("rate(app_requests_total[3m])", BASE + 4 * 60)).toBeCloseTo(90 / 180, 12);
    expect(await value("increase(jobs_done_total[3m])", BASE + 3 * 60)).toBe(2 + 3 + 4);
  });

  it("gauges read as their last value; a unit of 1 on a gauge is _ratio", async () => {
    expect(await value("queue_depth", BASE + 60 + 30)).toBe(8);
    expect(await value("queue_depth", BASE + 2 * 60 + 30)).toBe(3);
    expect(await value("cache_hit_ratio", BASE + 30)).toBe(0.75);
  });

  it("histograms (explicit and exponential) are _bucket{le}, _sum and _count; summaries quantile series", async () => {
    const h = "gen_ai_client_operation_duration_seconds";
    const src = '{cognive_source="otlp_metrics"}';
    expect(await value(`increase(${h}_count${src}[2m])`, BASE + 2 * 60)).toBe(3);
    expect(await value(`increase(${h}_sum${src}[2m])`, BASE + 2 * 60)).toBe(13.5);
    const buckets = await promAt(`increase(${h}_bucket${src}[3m])`, BASE + 2 * 60);
    expect(Object.fromEntries(buckets.map((b) => [b.metric.le, Number(b.value[1])]))).toEqual({
      "1": 2,
      "5": 3,
      "+Inf": 4,
    });
    expect(buckets[0].metric.gen_ai_request_model).toBe("gpt-4o-mini");
    expect(await value(`histogram_quantile(0.5, sum by (le) (increase(${h}_bucket${src}[3m])))`, BASE + 2 * 60)).toBe(
      1,
    );

    const exp = await promAt("increase(exp_latency_milliseconds_bucket[2m])", BASE + 30);
    // Scale 0: bucket i covers (2^i, 2^(i+1)]; the zero bucket is below every bound.
    expect(Object.fromEntries(exp.map((b) => [b.metric.le, Number(b.value[1])]))).toEqual({
      "2": 2,
      "4": 4,
      "+Inf": 4,
    });
    expect(await value("increase(exp_latency_milliseconds_count[2m])", BASE + 30)).toBe(4);

    const q = await promAt("rpc_duration_seconds", BASE + 30);
    expect(Object.fromEntries(q.map((s) => [s.metric.quantile, Number(s.value[1])]))).toEqual({
      "0.5": 0.2,
      "0.99": 1.5,
    });
    expect(await value("rpc_duration_seconds_count", BASE + 30)).toBe(10);
  });

  it("the GenAI metrics of both sources stand side by side, told apart by cognive_source, so neither is counted twice", async () => {
    const run = agentRunBody({
      traceId: randomBytes(16).toString("hex"),
      service: "svc-m",
      agent: "a",
      model: "gpt-4o-mini",
    });
    expect((await postRaw(`${server().otlpUrl}/v1/traces`, run, { "content-type": "application/json" })).status).toBe(
      200,
    );
    const now = Math.floor(Date.now() / 1000) + 60;
    const h = "gen_ai_client_operation_duration_seconds_count";
    const by = await promAt(`sum by (cognive_source) (${h})`, now);
    expect(Object.fromEntries(by.map((s) => [s.metric.cognive_source, Number(s.value[1])]))).toEqual({
      otlp_metrics: 4,
      spans: 1,
    });
    expect(await value(`sum(${h}{cognive_source="spans"})`, now)).toBe(1);
    expect(await value(`sum(${h}{cognive_source="otlp_metrics"})`, now)).toBe(4);
    // Every span-derived series carries its source too.
    const [calls] = await promAt("cognive_llm_calls_total", now);
    expect(calls.metric.cognive_source).toBe("spans");
    expect(await promAt('cognive_llm_calls_total{cognive_source="otlp_metrics"}', now)).toEqual([]);
    expect(await value("sum(cognive_llm_calls_total)", now)).toBe(1);
  });

  it("stored metrics appear in the metadata endpoints", async () => {
    const api = `${server().queryUrl}/api/v1`;
    const names = (await getJson(`${api}/label/__name__/values`)).body.data;
    expect(names).toEqual(
      expect.arrayContaining([
        "app_requests_total",
        "queue_depth",
        "exp_latency_milliseconds_bucket",
        "rpc_duration_seconds_sum",
        "cognive_llm_calls_total",
      ]),
    );
    const labels = (await getJson(`${api}/labels`)).body.data;
    expect(labels).toEqual(
      expect.arrayContaining(["route", "cognive_source", "job", "quantile", "gen_ai_request_model"]),
    );
    const series = (await getJson(`${api}/series?match[]=${encodeURIComponent('{__name__=~"app_.*"}')}`)).body.data;
    expect(series).toEqual([APP_REQUESTS]);
    const routes = (await getJson(`${api}/label/route/values?match[]=app_requests_total`)).body.data;
    expect(routes).toEqual(["/a"]);
    const sources = (await getJson(`${api}/label/cognive_source/values`)).body.data;
    expect(sources).toEqual(["otlp_metrics", "spans"]);
    const meta = (await getJson(`${api}/metadata`)).body.data;
    expect(meta.app_requests_total).toEqual([{ type: "counter", help: "Requests served.", unit: "" }]);
    expect(meta.exp_latency_milliseconds[0].type).toBe("histogram");
    expect(meta.rpc_duration_seconds[0].type).toBe("summary");
    expect(meta.queue_depth[0].type).toBe("gauge");
  });

  it("rejected points are reported in partial_success; undecodable bodies get 400 and nothing else is lost", async () => {
    const url = `${server().otlpUrl}/v1/metrics`;
    const bad = body("svc-m", [
      {
        name: "partly.bad",
        sum: {
          isMonotonic: true,
          aggregationTemporality: 1,
          dataPoints: [
            { timeUnixNano: at(1), asInt: "2" },
            { timeUnixNano: "18446744073709551615", asInt: "1" },
            { timeUnixNano: at(1), asDouble: "NaN" },
          ],
        },
      },
    ]);
    const res = await postRaw(url, bad, { "content-type": "application/json" });
    expect(res.status).toBe(200);
    const answer = JSON.parse(res.body.toString());
    expect(answer.partialSuccess.rejectedDataPoints).toBe("2");
    expect(answer.partialSuccess.errorMessage).toMatch(/DateTime64.*finite|finite.*DateTime64/s);
    expect(await value("increase(partly_bad_total[2m])", BASE + 60)).toBe(2);

    for (const [ct, payload] of [
      ["application/x-protobuf", Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 1])],
      ["application/json", Buffer.from('{"resourceMetrics":{"oops":1}}')],
      ["application/json", Buffer.from("'; DROP TABLE otel_metrics_sum; --")],
    ] as const) {
      const r = await postRaw(url, payload, { "content-type": ct });
      expect(r.status, payload.toString()).toBe(400);
    }
    // Injection in names and attributes is only data.
    const sneaky = body("svc-x'); DROP TABLE x; --", [
      {
        name: "evil'\"name\\",
        gauge: { dataPoints: [{ timeUnixNano: at(0), asInt: "1", attributes: [sv("k'}", "v'\t\n")] }] },
      },
    ]);
    expect((await postRaw(url, sneaky, { "content-type": "application/json" })).status).toBe(200);
    const [s] = await promAt('{__name__="evil_name_"}', BASE + 30);
    expect(s.metric).toMatchObject({ k__: "v'\t\n", service_name: "svc-x'); DROP TABLE x; --" });
  });

  it("the official OTLP metrics exporters (gRPC, HTTP/protobuf and HTTP/JSON) export successfully and their metrics are queryable", async () => {
    const viaGrpc = await exportWith(
      new GrpcMetricExporter({ url: server().grpcUrl, credentials: grpc.credentials.createInsecure() }),
      "svc-grpc",
    );
    expect(viaGrpc.error).toBeUndefined();
    expect(viaGrpc.code).toBe(0);
    const viaProto = await exportWith(new ProtoMetricExporter({ url: `${server().otlpUrl}/v1/metrics` }), "svc-proto");
    expect(viaProto.error).toBeUndefined();
    expect(viaProto.code).toBe(0);
    const viaJson = await exportWith(new JsonMetricExporter({ url: `${server().otlpUrl}/v1/metrics` }), "svc-json");
    expect(viaJson.error).toBeUndefined();
    expect(viaJson.code).toBe(0);
    const now = Math.floor(Date.now() / 1000) + 60;
    const calls = await promAt("sum by (service_name) (sdk_calls_total)", now);
    expect(Object.fromEntries(calls.map((s) => [s.metric.service_name, Number(s.value[1])]))).toEqual({
      "svc-grpc": 3,
      "svc-proto": 3,
      "svc-json": 3,
    });
    expect(await value('sum(sdk_latency_milliseconds_count{service_name="svc-json"})', now)).toBe(1);
    expect(await value('sum(sdk_latency_milliseconds_count{service_name="svc-grpc"})', now)).toBe(1);
    const metrics = await (await fetch(`${server().otlpUrl}/metrics`)).text();
    expect(metrics).toMatch(/cognive_metric_points_received_total\{transport="grpc"\} 2/);
    expect(metrics).toMatch(/cognive_metric_points_received_total\{transport="json"\} 2/);
    expect(metrics).toMatch(/cognive_otlp_requests_total\{signal="metrics",status="OK"\} 1/);
  });
});

describe("MetricsService/Export over gRPC on bad input and storage failure", () => {
  const server = useTestServer();
  const call = (
    message: Buffer,
  ): Promise<{ code: grpc.status; details: string; response?: Buffer; metadata?: grpc.Metadata }> => {
    const client = new grpc.Client(new URL(server().grpcUrl).host, grpc.credentials.createInsecure());
    return new Promise((resolve) => {
      client.makeUnaryRequest(
        METRICS_EXPORT_PATH,
        (b: Buffer) => b,
        (b: Buffer) => b,
        message,
        new grpc.Metadata(),
        { deadline: Date.now() + 30_000 },
        (err, res) => {
          client.close();
          resolve(
            err
              ? { code: err.code, details: err.details, metadata: err.metadata }
              : { code: grpc.status.OK, details: "", response: res },
          );
        },
      );
    });
  };
  /** An ExportMetricsServiceRequest with one delta sum point per value, in protobuf. */
  const sumRequest = (name: string, values: number[], timeNs = BigInt(Date.now()) * 1_000_000n) => {
    const sum = protobuf.Writer.create();
    for (const v of values) {
      const p = protobuf.Writer.create()
        .uint32(25)
        .fixed32(Number(timeNs & 0xffffffffn))
        .fixed32(Number(timeNs >> 32n))
        .uint32(33)
        .double(v)
        .finish();
      sum.uint32(10).bytes(p);
    }
    sum.uint32(16).int32(1).uint32(24).bool(true);
    const metric = protobuf.Writer.create().uint32(10).string(name).uint32(58).bytes(sum.finish()).finish();
    const scope = protobuf.Writer.create().uint32(18).bytes(metric).finish();
    return Buffer.from(
      protobuf.Writer.create().uint32(10).bytes(protobuf.Writer.create().uint32(18).bytes(scope).finish()).finish(),
    );
  };

  it("garbage and 10k-deep kvlists are INVALID_ARGUMENT; the server keeps serving", async () => {
    expect((await call(Buffer.from("garbage, not protobuf"))).code).toBe(grpc.status.INVALID_ARGUMENT);
    let v = protobuf.Writer.create().uint32(10).string("leaf").finish();
    for (let i = 0; i < 10_000; i++) {
      const kv = protobuf.Writer.create().uint32(10).string("k").uint32(18).bytes(v).finish();
      v = protobuf.Writer.create().uint32(50).bytes(protobuf.Writer.create().uint32(10).bytes(kv).finish()).finish();
    }
    const attr = protobuf.Writer.create().uint32(10).string("deep").uint32(18).bytes(v).finish();
    const resource = protobuf.Writer.create().uint32(10).bytes(attr).finish();
    const deep = Buffer.from(
      protobuf.Writer.create().uint32(10).bytes(protobuf.Writer.create().uint32(10).bytes(resource).finish()).finish(),
    );
    const answer = await call(deep);
    expect(answer.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(answer.details).toMatch(/nested too deeply/);
    expect((await call(sumRequest("still.serving", [1]))).code).toBe(grpc.status.OK);
  }, 30_000); // building a 10k-deep message by hand copies it at every level: seconds on a busy machine

  it("rejected points come back in partial_success (rejected_data_points)", async () => {
    const answer = await call(sumRequest("grpc.partial", [1, Number.NaN, -1]));
    expect(answer.code).toBe(grpc.status.OK);
    const r = protobuf.Reader.create(answer.response as Buffer);
    expect(r.uint32()).toBe(10);
    const inner = protobuf.Reader.create(r.bytes());
    expect(inner.uint32()).toBe(8);
    expect(Number(inner.int64())).toBe(2);
  });

  it("UNAVAILABLE with RetryInfo (and 503 over HTTP) while storage fails; the retry is stored", async () => {
    const storage = server().running.storage;
    const name = `down.${randomBytes(4).toString("hex")}`;
    await storage.client.command({
      query: "RENAME TABLE cognive.otel_metrics_sum TO cognive.otel_metrics_sum_offline",
    });
    let failed: Awaited<ReturnType<typeof call>>;
    let http: Awaited<ReturnType<typeof postRaw>>;
    try {
      failed = await call(sumRequest(name, [5]));
      http = await postRaw(`${server().otlpUrl}/v1/metrics`, sumRequest(name, [5]), {
        "content-type": "application/x-protobuf",
      });
    } finally {
      await storage.client.command({
        query: "RENAME TABLE cognive.otel_metrics_sum_offline TO cognive.otel_metrics_sum",
      });
    }
    expect(failed.code).toBe(grpc.status.UNAVAILABLE);
    const details = failed.metadata?.get("grpc-status-details-bin")[0] as Buffer;
    expect(details.toString("latin1")).toContain("type.googleapis.com/google.rpc.RetryInfo");
    expect(http.status).toBe(503);
    expect(http.headers["retry-after"]).toBeDefined();
    expect((await call(sumRequest(name, [5]))).code).toBe(grpc.status.OK);
    const stored = await prom(server, `sum(${name.replace(".", "_")}_total)`);
    expect(stored.map((s) => Number(s.value[1]))).toEqual([5]);
  });
});
