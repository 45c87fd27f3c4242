import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import protobuf from "protobufjs/minimal.js";
import { describe, expect, it } from "vitest";
import { decodeTracesJson } from "../src/otlp/decode-json.ts";
import { decodeTracesProto, readInt64 } from "../src/otlp/decode-proto.ts";
import { DecodeError } from "../src/otlp/model.ts";

/** Spans made by the official SDK, with every attribute type, events, links and status. */
function sdkSpans() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "decoder-test", "host.cores": 2 }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer("scope-a", "1.2.3");
  const root = tracer.startSpan("invoke_agent planner", { kind: SpanKind.SERVER });
  const child = tracer.startSpan(
    "chat gpt-4o",
    {
      kind: SpanKind.CLIENT,
      attributes: {
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1234,
        "gen_ai.request.temperature": 0.25,
        "gen_ai.request.stream": true,
        "gen_ai.response.finish_reasons": ["stop", "length"],
        "text.with\ttab": "line1\nline2 'quoted' \\ back ünïcødé 🚀",
        big: 2 ** 40,
      },
      links: [{ context: root.spanContext(), attributes: { "link.kind": "retry" } }],
    },
    trace.setSpan(context.active(), root),
  );
  child.addEvent("gen_ai.choice", { index: 0, "message.role": "assistant" });
  child.setStatus({ code: SpanStatusCode.ERROR, message: "rate limited" });
  child.end();
  root.end();
  return exporter.getFinishedSpans();
}

describe("OTLP decoders", () => {
  it("decode the official serializers' protobuf and JSON to the same spans", () => {
    const spans = sdkSpans();
    const proto = decodeTracesProto(ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array);
    const json = decodeTracesJson(
      Buffer.from(JsonTraceSerializer.serializeRequest(spans) as Uint8Array).toString("utf8"),
    );
    expect(proto).toEqual(json);

    const rs = proto.resourceSpans[0];
    expect(rs.resource["service.name"]).toBe("decoder-test");
    expect(rs.resource["host.cores"]).toBe(2);
    const ss = rs.scopeSpans[0];
    expect(ss.scopeName).toBe("scope-a");
    expect(ss.scopeVersion).toBe("1.2.3");
    const chat = ss.spans.find((s) => s.name === "chat gpt-4o");
    const sdkChat = spans.find((s) => s.name === "chat gpt-4o");
    expect(chat).toBeDefined();
    expect(sdkChat).toBeDefined();
    if (!chat || !sdkChat) return;
    expect(chat.traceId).toBe(sdkChat.spanContext().traceId);
    expect(chat.spanId).toBe(sdkChat.spanContext().spanId);
    expect(chat.parentSpanId).toBe(sdkChat.parentSpanContext?.spanId);
    expect(chat.kind).toBe(3);
    const [sec, ns] = sdkChat.startTime;
    expect(chat.startNs).toBe(BigInt(sec) * 1_000_000_000n + BigInt(ns));
    expect(chat.attributes["gen_ai.usage.input_tokens"]).toBe(1234);
    expect(chat.attributes["gen_ai.request.temperature"]).toBe(0.25);
    expect(chat.attributes["gen_ai.request.stream"]).toBe(true);
    expect(chat.attributes["gen_ai.response.finish_reasons"]).toEqual(["stop", "length"]);
    expect(chat.attributes["text.with\ttab"]).toBe("line1\nline2 'quoted' \\ back ünïcødé 🚀");
    expect(chat.attributes.big).toBe(2 ** 40);
    expect(chat.events).toHaveLength(1);
    expect(chat.events[0].name).toBe("gen_ai.choice");
    expect(chat.events[0].attributes["message.role"]).toBe("assistant");
    expect(chat.links[0].spanId).toBe(sdkChat.links[0].context.spanId);
    expect(chat.links[0].attributes["link.kind"]).toBe("retry");
    expect(chat.statusCode).toBe(2);
    expect(chat.statusMessage).toBe("rate limited");
  });

  it("reject truncated protobuf and wire-type confusion", () => {
    const bytes = ProtobufTraceSerializer.serializeRequest(sdkSpans()) as Uint8Array;
    expect(() => decodeTracesProto(bytes.subarray(0, bytes.length - 3))).toThrow(DecodeError);
    // field 1 (resource_spans) as a varint instead of a length-delimited message
    expect(() => decodeTracesProto(Uint8Array.from([0x08, 0x01]))).toThrow(DecodeError);
    // a span whose name (field 5) is a fixed64
    const bad = Uint8Array.from([0x0a, 0x0d, 0x12, 0x0b, 0x12, 0x09, 0x29, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(() => decodeTracesProto(bad)).toThrow(/wire type/);
  });

  it("accept an empty request", () => {
    expect(decodeTracesProto(new Uint8Array(0))).toEqual({ resourceSpans: [] });
    expect(decodeTracesJson("{}")).toEqual({ resourceSpans: [] });
  });

  it("mark a JSON span with a bad field invalid without failing the batch", () => {
    const doc = {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                { traceId: "zz", spanId: "0102030405060708", name: "a" },
                {
                  traceId: "0102030405060708090a0b0c0d0e0f10",
                  spanId: "0102030405060708",
                  startTimeUnixNano: -5,
                  name: "b",
                },
                {
                  traceId: "0102030405060708090A0B0C0D0E0F10",
                  spanId: "0102030405060708",
                  kind: "SPAN_KIND_CLIENT",
                  name: "c",
                },
              ],
            },
          ],
        },
      ],
    };
    const spans = decodeTracesJson(JSON.stringify(doc)).resourceSpans[0].scopeSpans[0].spans;
    expect(spans[0].invalid).toMatch(/traceId/);
    expect(spans[1].invalid).toMatch(/startTimeUnixNano/);
    expect(spans[2].invalid).toBeUndefined();
    expect(spans[2].traceId).toBe("0102030405060708090a0b0c0d0e0f10");
    expect(spans[2].kind).toBe(3);
  });

  it("reject JSON that is not OTLP-shaped", () => {
    expect(() => decodeTracesJson("[1,2]")).toThrow(DecodeError);
    expect(() => decodeTracesJson('{"resourceSpans":[{"scopeSpans":{}}]}')).toThrow(DecodeError);
    expect(() => decodeTracesJson('{"resourceSpans":[{"scopeSpans":[{"spans":[42]}]}]}')).toThrow(DecodeError);
  });

  it("decode strings that repeat from span to span right when they collide in the decoder's cache", () => {
    // Keys of one length that differ only in their first characters land in one slot of the cache
    // (it hashes eight bytes spread from the end); 6,000 distinct keys are more than it holds.
    const attributes = (i: number): Record<string, string | number> => ({
      [`${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + ((i >> 5) % 26))}.same.tail.key`]: `v${i % 7}`,
      [`key.number.${i}`]: i,
      "gen_ai.request.model": i % 2 ? "gpt-4o" : "gpt-4o-mini",
      "clé.ünïcødé": i % 3 ? "🚀 café" : "cafe",
      "service.note": i % 2 ? "a".repeat(97) : "a".repeat(96),
    });
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const tracer = provider.getTracer("cache");
    for (let i = 0; i < 6000; i++)
      tracer.startSpan(i % 2 ? "chat" : "chat gpt-4o", { attributes: attributes(i) }).end();
    const spans = exporter.getFinishedSpans();
    const proto = decodeTracesProto(ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array);
    const decoded = proto.resourceSpans[0].scopeSpans[0].spans;
    expect(decoded).toHaveLength(6000);
    for (let i = 0; i < 6000; i++) {
      expect(decoded[i].attributes).toEqual(attributes(i));
      expect(decoded[i].name).toBe(i % 2 ? "chat" : "chat gpt-4o");
    }
    const json = decodeTracesJson(
      Buffer.from(JsonTraceSerializer.serializeRequest(spans) as Uint8Array).toString("utf8"),
    );
    expect(proto).toEqual(json);
  });

  it("decode a key of bytes that are not UTF-8 as Node decodes it, every time", () => {
    const key = Buffer.from([0x61, 0xff, 0x62, 0xfe]);
    const kv = Buffer.concat([Buffer.from([0x0a, key.length]), key, Buffer.from([0x12, 0x03, 0x0a, 0x01, 0x76])]);
    const attr = Buffer.concat([Buffer.from([0x4a, kv.length]), kv]);
    const id = (n: number, b: number) => Buffer.alloc(n, b);
    const span = Buffer.concat([Buffer.from([0x0a, 16]), id(16, 1), Buffer.from([0x12, 8]), id(8, 2), attr]);
    const scope = Buffer.concat([Buffer.from([0x12, span.length]), span]);
    const rs = Buffer.concat([Buffer.from([0x12, scope.length]), scope]);
    const body = Buffer.concat([Buffer.from([0x0a, rs.length]), rs]);
    for (let i = 0; i < 3; i++) {
      const s = decodeTracesProto(body).resourceSpans[0].scopeSpans[0].spans[0];
      expect(s.attributes).toEqual({ [key.toString("utf8")]: "v" });
      expect(Object.keys(s.attributes)[0]).toBe("a\ufffdb\ufffd");
      expect(s.traceId).toBe("01".repeat(16));
      expect(s.spanId).toBe("02".repeat(8));
    }
  });

  it("decode int64 values exactly, short and long varints alike, and reject one cut short", () => {
    // Numbers where they are exact, decimal strings where not; each followed by a marker so the
    // reader's position after the value is checked too.
    const cases: [string, number | string][] = [
      ["0", 0],
      ["1", 1],
      ["127", 127],
      ["128", 128],
      ["1234", 1234],
      [String(2 ** 49 - 1), 2 ** 49 - 1],
      [String(2 ** 49), 2 ** 49],
      [String(2 ** 53 - 1), 2 ** 53 - 1],
      [String(2 ** 53), "9007199254740992"],
      ["9223372036854775807", "9223372036854775807"],
      ["-1", -1],
      ["-300", -300],
      ["-9223372036854775808", "-9223372036854775808"],
    ];
    const w = protobuf.Writer.create();
    for (const [v] of cases) w.int64(v).uint32(0x55);
    const r = protobuf.Reader.create(w.finish());
    for (const [, want] of cases) {
      expect(readInt64(r)).toEqual(want);
      expect(r.uint32()).toBe(0x55);
    }
    expect(r.pos).toBe(r.len);
    expect(() => readInt64(protobuf.Reader.create(Uint8Array.from([0x80, 0x80])))).toThrow();
    expect(() =>
      readInt64(protobuf.Reader.create(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))),
    ).toThrow();
  });

  it("decode fixed64 times exactly, the highest bit included, and reject one cut short", () => {
    const fixed = (field: number, v: bigint) => {
      const b = Buffer.alloc(9);
      b[0] = (field << 3) | 1;
      b.writeBigUInt64LE(v, 1);
      return b;
    };
    const ids = Buffer.concat([
      Buffer.from([0x0a, 16]),
      Buffer.alloc(16, 1),
      Buffer.from([0x12, 8]),
      Buffer.alloc(8, 2),
    ]);
    const wrap = (span: Buffer) => {
      const scope = Buffer.concat([Buffer.from([0x12, span.length]), span]);
      const rs = Buffer.concat([Buffer.from([0x12, scope.length]), scope]);
      return Buffer.concat([Buffer.from([0x0a, rs.length]), rs]);
    };
    for (const [start, end] of [
      [2n ** 64n - 1n, 0x0102030405060708n],
      [1_796_413_731_236_123_457n, 2n ** 63n],
      [0n, 1n],
    ]) {
      const body = wrap(Buffer.concat([ids, fixed(7, start), fixed(8, end)]));
      const s = decodeTracesProto(body).resourceSpans[0].scopeSpans[0].spans[0];
      expect([s.startNs, s.endNs]).toEqual([start, end]);
    }
    const cut = wrap(Buffer.concat([ids, fixed(7, 5n).subarray(0, 6)]));
    expect(() => decodeTracesProto(cut)).toThrow(DecodeError);
  });
});
