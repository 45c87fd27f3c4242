import { SPAN_COLUMNS, SPAN_TABLE } from "@cognive/collector";
import otlpRoot from "otlp-transformer-0.57/build/src/generated/root.js";
import protobuf from "protobufjs/minimal.js";
import { beforeAll, describe, expect, it } from "vitest";
import { useTestServer } from "../helpers/server.ts";

// The protobufjs root generated from the official OTLP .proto files.
const proto = (otlpRoot as any).opentelemetry.proto;
const server = useTestServer();

const SERVICE = "typed-attrs";
const nowS = Math.floor(Date.now() / 1000);
const nowNs = BigInt(nowS) * 1_000_000_000n;
const RANGE = `start=${nowS - 600}&end=${nowS + 600}`;
const TRACE_PROTO = "0000000000000000000000000000c001";
const TRACE_JSON = "0000000000000000000000000000c002";
const TRACE_OLD = "0000000000000000000000000000c003";
const TRACE_HOSTILE = "0000000000000000000000000000c004";
const TRACE_HUGE = "0000000000000000000000000000c005";

/** Every AnyValue case, in OTLP/JSON (int64 as decimal strings, bytes as base64). */
const ATTRS = [
  { key: "t.int", value: { intValue: "42" } },
  { key: "t.big", value: { intValue: "4611686018427387904" } },
  { key: "t.neg", value: { intValue: "-7" } },
  { key: "t.double", value: { doubleValue: 1.5 } },
  { key: "t.whole", value: { doubleValue: 2 } },
  { key: "t.flag", value: { boolValue: true } },
  { key: "t.str", value: { stringValue: "hello" } },
  { key: "t.numstr", value: { stringValue: "404" } },
  {
    key: "t.arr",
    value: {
      arrayValue: { values: [{ intValue: "1" }, { stringValue: "a" }, { boolValue: true }, { doubleValue: 2.5 }] },
    },
  },
  {
    key: "t.kv",
    value: {
      kvlistValue: {
        values: [
          { key: "a", value: { intValue: "1" } },
          { key: "nested", value: { kvlistValue: { values: [{ key: "c", value: { boolValue: false } }] } } },
        ],
      },
    },
  },
  { key: "t.bytes", value: { bytesValue: "AAEC" } },
];
const BY_KEY = Object.fromEntries(ATTRS.map((a) => [a.key, a.value]));

/** The same attributes as the native API answers them. */
const NATIVE = {
  "t.int": 42,
  "t.big": "4611686018427387904",
  "t.neg": -7,
  "t.double": 1.5,
  "t.whole": 2,
  "t.flag": true,
  "t.str": "hello",
  "t.numstr": "404",
  "t.arr": [1, "a", true, 2.5],
  "t.kv": { a: 1, nested: { c: false } },
  "t.bytes": "AAEC",
};

function request(traceId: string, id: (hex: string) => string, attributes: unknown[] = ATTRS) {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: SERVICE } }, ...attributes] },
        scopeSpans: [
          {
            scope: { name: "typed" },
            spans: [
              {
                traceId: id(traceId),
                spanId: id(`${traceId.slice(-4)}00000000a001`),
                name: "typed-span",
                kind: 1,
                startTimeUnixNano: String(nowNs),
                endTimeUnixNano: String(nowNs + 1_000_000n),
                attributes,
                events: [{ timeUnixNano: String(nowNs), name: "ev", attributes }],
              },
            ],
          },
        ],
      },
    ],
  };
}

const b64 = (hex: string) => Buffer.from(hex, "hex").toString("base64");

async function post(body: ArrayBuffer | string, type: string) {
  const res = await fetch(`${server().otlpUrl}/v1/traces`, { method: "POST", headers: { "content-type": type }, body });
  expect(res.status).toBe(200);
}

async function get(path: string, accept = "application/json") {
  const res = await fetch(`${server().queryUrl}${path}`, { headers: { accept } });
  expect(res.status, path).toBe(200);
  return res;
}

/** A row as a writer that knows nothing of types writes it (the ClickHouse exporter, or Cognive before migration 8). */
function rawRow(traceId: string, spanAttributes: string, extra: Record<string, string> = {}) {
  const v: Record<string, string> = {
    Timestamp: `${nowS}.000000000`,
    TraceId: traceId,
    SpanId: `${traceId.slice(-4)}00000000a001`,
    SpanName: "raw",
    ServiceName: SERVICE,
    ResourceAttributes: `{'service.name':'${SERVICE}'}`,
    SpanAttributes: spanAttributes,
    "Events.Timestamp": `['${nowS}.000000000']`,
    "Events.Name": "['ev']",
    "Events.Attributes": spanAttributes.startsWith("{") ? `[${spanAttributes}]` : "[{}]",
    GenAiUsageRole: "none",
    ...extra,
  };
  const numeric = /Tokens|Usd|Priced|Duration/;
  return (columns: readonly string[]) =>
    `${columns.map((c) => v[c] ?? (numeric.test(c) ? "0" : /^Links\.|^(Event|Link)AttributeTypes$/.test(c) ? "[]" : c.endsWith("Types") ? "{}" : "")).join("\t")}\n`;
}

beforeAll(async () => {
  const T = proto.collector.trace.v1.ExportTraceServiceRequest;
  const msg = T.fromObject(request(TRACE_PROTO, b64));
  expect(T.verify(msg)).toBeNull();
  // A copy: protobufjs may answer a view into a larger pooled buffer.
  await post(new Uint8Array(T.encode(msg).finish()).buffer, "application/x-protobuf");
  await post(JSON.stringify(request(TRACE_JSON, (h) => h)), "application/json");
  // Huge values: a 20 000-element array and a 2 000-key kvlist.
  const huge = [
    {
      key: "huge.arr",
      value: { arrayValue: { values: Array.from({ length: 20_000 }, (_, i) => ({ intValue: String(i) })) } },
    },
    {
      key: "huge.kv",
      value: {
        kvlistValue: {
          values: Array.from({ length: 2_000 }, (_, i) => ({ key: `k${i}`, value: { doubleValue: i + 0.5 } })),
        },
      },
    },
  ];
  await post(JSON.stringify(request(TRACE_HUGE, (h) => h, huge)), "application/json");

  const storage = server().running.storage;
  const old = SPAN_COLUMNS.filter((c) => !c.endsWith("AttributeTypes"));
  expect(old.length).toBe(SPAN_COLUMNS.length - 4);
  await storage.insertTsv(SPAN_TABLE, old, rawRow(TRACE_OLD, "{'t.int':'42','t.flag':'true'}")(old));
  // Type maps that do not fit their values, keys with no value, unknown codes, hostile keys.
  const hostile = rawRow(
    TRACE_HOSTILE,
    "{'a':'abc','b':'[oops','c':'[1]','d':'x','e':'1.5','f':'1e999999','__proto__':'7'}",
    {
      SpanAttributeTypes: "{'a':3,'b':5,'c':6,'d':99,'e':2,'f':4,'zz':3,'q\\'k\\tx':2,'':4,'__proto__':3}",
      EventAttributeTypes: "[{'a':4,'b':6}]",
      ResourceAttributeTypes: "{'service.name':3}",
    },
  );
  await storage.insertTsv(SPAN_TABLE, SPAN_COLUMNS, hostile(SPAN_COLUMNS));
}, 60_000);

/** key → AnyValue of a decoded (official definitions) KeyValue list, as protobufjs's toObject shows it. */
function decodedAttrs(kvs: unknown[]): Record<string, unknown> {
  const KV = proto.common.v1.KeyValue;
  return Object.fromEntries(
    kvs.map((kv) => {
      const o = KV.toObject(kv, { longs: String, bytes: String });
      return [o.key, o.value];
    }),
  );
}

function onlySpan(tracesData: {
  resourceSpans: { resource: { attributes: unknown[] }; scopeSpans: { spans: any[] }[] }[];
}) {
  expect(tracesData.resourceSpans).toHaveLength(1);
  const rs = tracesData.resourceSpans[0];
  return { resource: rs.resource, span: rs.scopeSpans[0].spans[0] };
}

/** TraceByIDResponse { Trace trace = 1 }: the trace's bytes. */
function traceField(bytes: Uint8Array): Uint8Array {
  const r = protobuf.Reader.create(bytes);
  expect(r.uint32()).toBe((1 << 3) | 2);
  return r.bytes();
}

describe("typed attributes through the Tempo API", () => {
  for (const [how, traceId] of [
    ["OTLP/protobuf", TRACE_PROTO],
    ["OTLP/JSON", TRACE_JSON],
  ]) {
    it(`v2 protobuf: every type sent over ${how} decodes with the official definitions as sent`, async () => {
      const res = await get(`/api/v2/traces/${traceId}`, "application/protobuf");
      const data = proto.trace.v1.TracesData.decode(traceField(new Uint8Array(await res.arrayBuffer())));
      const { resource, span } = onlySpan(data);
      const { "service.name": _, ...resourceAttrs } = decodedAttrs(resource.attributes);
      expect(resourceAttrs).toEqual(BY_KEY);
      expect(decodedAttrs(span.attributes)).toEqual(BY_KEY);
      expect(decodedAttrs(span.events[0].attributes)).toEqual(BY_KEY);
      // The int64 beyond 2^53 is exact on the wire.
      expect(span.attributes.find((kv: { key: string }) => kv.key === "t.big").value.intValue.toString()).toBe(
        String(2n ** 62n),
      );
    });

    it(`v1 protobuf and v2 JSON answer the same types (${how})`, async () => {
      const v1 = proto.trace.v1.TracesData.decode(
        new Uint8Array(await (await get(`/api/traces/${traceId}`, "application/protobuf")).arrayBuffer()),
      );
      expect(decodedAttrs(onlySpan(v1).span.attributes)).toEqual(BY_KEY);
      const json = await (await get(`/api/v2/traces/${traceId}`)).json();
      const { span } = onlySpan(json.trace);
      const byKey = Object.fromEntries(
        span.attributes.map((kv: { key: string; value: unknown }) => [kv.key, kv.value]),
      );
      expect(byKey).toEqual(BY_KEY);
    });

    it(`the native trace API answers typed JSON values (${how})`, async () => {
      const body = await (await get(`/api/v1/traces/${traceId}`)).json();
      const span = body.spans[0];
      expect(span.attributes).toEqual(NATIVE);
      expect(span.resource).toEqual({ "service.name": SERVICE, ...NATIVE });
      expect(span.events[0].attributes).toEqual(NATIVE);
    });
  }

  it("search select() answers typed values", async () => {
    const q = `{ resource.service.name = "${SERVICE}" && span.t.int = 42 } | select(span.t.double, span.t.whole, span.t.big, span.t.flag, span.t.str)`;
    const body = await (await get(`/api/search?q=${encodeURIComponent(q)}&${RANGE}`)).json();
    const ids = body.traces.map((t: { traceID: string }) => t.traceID).sort();
    expect(ids).toEqual([TRACE_PROTO, TRACE_JSON]);
    for (const t of body.traces) {
      const attrs = Object.fromEntries(
        t.spanSets[0].spans[0].attributes.map((kv: { key: string; value: unknown }) => [kv.key, kv.value]),
      );
      expect(attrs).toEqual({
        "service.name": { stringValue: SERVICE },
        "t.int": { intValue: "42" },
        "t.double": { doubleValue: 1.5 },
        "t.whole": { doubleValue: 2 },
        "t.big": { intValue: "4611686018427387904" },
        "t.flag": { boolValue: true },
        "t.str": { stringValue: "hello" },
      });
    }
  });

  async function matches(filter: string): Promise<string[]> {
    const q = `{ resource.service.name = "${SERVICE}" } && { ${filter} }`;
    const body = await (await get(`/api/search?q=${encodeURIComponent(q)}&${RANGE}&limit=50`)).json();
    return body.traces.map((t: { traceID: string }) => t.traceID).sort();
  }

  const TYPED = [TRACE_PROTO, TRACE_JSON];
  const cases: [string, string[]][] = [
    ["span.t.int >= 40", TYPED],
    ["span.t.int > 42", []],
    ["span.t.int = 42.0", TYPED],
    ["span.t.neg < 0", TYPED],
    ["span.t.big > 4000000000000000000", TYPED],
    ["span.t.double = 1.5", TYPED],
    ["span.t.whole = 2", TYPED],
    ["span.t.flag = true", TYPED],
    ["span.t.flag = false", []],
    ["span.t.flag != false", TYPED],
    ['span.t.str = "hello"', TYPED],
    // Tempo compares values of the same type only: a number never matches a string attribute, and so on.
    ["span.t.numstr = 404", []],
    ['span.t.numstr = "404"', TYPED],
    ['span.t.int = "42"', [TRACE_OLD]],
    ["span.t.str = true", []],
    ['span.t.flag = "true"', [TRACE_OLD]],
    [".t.int = 42", TYPED],
    ["resource.t.double > 1", TYPED],
    ["event.t.int = 42", TYPED],
    ["event.t.numstr = 404", []],
    // Rows written without types have no type map per event: they read as strings.
    ['event.t.int = "42"', [TRACE_OLD]],
  ];
  for (const [filter, want] of cases) {
    it(`TraceQL { ${filter} } matches ${want.length ? want.map((t) => t.slice(-4)).join(", ") : "nothing"}`, async () => {
      expect(await matches(filter)).toEqual(want);
    });
  }

  it("tag values carry Tempo's types", async () => {
    const values = async (tag: string) =>
      (await (await get(`/api/v2/search/tag/${tag}/values?${RANGE}`)).json()).tagValues;
    // The untyped row's "42" is a string; the typed rows' 42 an int.
    expect(await values("span.t.int")).toEqual([
      { type: "string", value: "42" },
      { type: "int", value: "42" },
    ]);
    expect(await values("span.t.double")).toEqual([{ type: "float", value: "1.5" }]);
    expect(await values("span.t.flag")).toEqual([
      { type: "string", value: "true" },
      { type: "bool", value: "true" },
    ]);
    expect(await values("span.t.numstr")).toEqual([{ type: "string", value: "404" }]);
    expect(await values("event.t.whole")).toEqual([{ type: "float", value: "2" }]);
    expect(await values("resource.t.big")).toEqual([{ type: "int", value: "4611686018427387904" }]);
    // v1 lists each value once.
    expect((await (await get(`/api/search/tag/t.int/values?${RANGE}`)).json()).tagValues).toEqual(["42"]);
  });

  it("rows written without types read as strings", async () => {
    const native = (await (await get(`/api/v1/traces/${TRACE_OLD}`)).json()).spans[0];
    expect(native.attributes).toEqual({ "t.int": "42", "t.flag": "true" });
    expect(native.events[0].attributes).toEqual({ "t.int": "42", "t.flag": "true" });
    const res = await get(`/api/v2/traces/${TRACE_OLD}`, "application/protobuf");
    const { span } = onlySpan(proto.trace.v1.TracesData.decode(traceField(new Uint8Array(await res.arrayBuffer()))));
    expect(decodedAttrs(span.attributes)).toEqual({
      "t.int": { stringValue: "42" },
      "t.flag": { stringValue: "true" },
    });
  });

  it("a type map that does not fit its values leaves them the stored strings", async () => {
    const strings = { a: "abc", b: "[oops", c: "[1]", d: "x", e: "1.5", f: "1e999999" };
    const native = (await (await get(`/api/v1/traces/${TRACE_HOSTILE}`)).json()).spans[0];
    // `__proto__` is an attribute like any other, typed as its map says.
    expect(Object.getOwnPropertyDescriptor(native.attributes, "__proto__")?.value).toBe(7);
    expect(Object.fromEntries(Object.entries(native.attributes).filter(([k]) => k !== "__proto__"))).toEqual(strings);
    expect(native.resource).toEqual({ "service.name": SERVICE });
    const res = await get(`/api/v2/traces/${TRACE_HOSTILE}`, "application/protobuf");
    const { resource, span } = onlySpan(
      proto.trace.v1.TracesData.decode(traceField(new Uint8Array(await res.arrayBuffer()))),
    );
    expect(decodedAttrs(span.attributes)).toEqual(
      Object.fromEntries([
        ...Object.entries(strings).map(([k, v]) => [k, { stringValue: v }]),
        ["__proto__", { intValue: "7" }],
      ]),
    );
    expect(decodedAttrs(resource.attributes)).toEqual({ "service.name": { stringValue: SERVICE } });
    const json = await (await get(`/api/v2/traces/${TRACE_HOSTILE}`)).json();
    expect(onlySpan(json.trace).span.attributes).toHaveLength(7);
  });

  it("huge arrays and kvlists round-trip whole", async () => {
    const native = (await (await get(`/api/v1/traces/${TRACE_HUGE}`)).json()).spans[0];
    expect(native.attributes["huge.arr"]).toHaveLength(20_000);
    expect(native.attributes["huge.arr"][19_999]).toBe(19_999);
    expect(Object.keys(native.attributes["huge.kv"])).toHaveLength(2_000);
    expect(native.attributes["huge.kv"].k1999).toBe(1999.5);
    const res = await get(`/api/v2/traces/${TRACE_HUGE}`, "application/protobuf");
    const { span } = onlySpan(proto.trace.v1.TracesData.decode(traceField(new Uint8Array(await res.arrayBuffer()))));
    const attrs = decodedAttrs(span.attributes) as Record<string, any>;
    expect(attrs["huge.arr"].arrayValue.values).toHaveLength(20_000);
    expect(attrs["huge.arr"].arrayValue.values[123]).toEqual({ intValue: "123" });
    expect(attrs["huge.kv"].kvlistValue.values[7]).toEqual({ key: "k7", value: { doubleValue: 7.5 } });
  });
});
