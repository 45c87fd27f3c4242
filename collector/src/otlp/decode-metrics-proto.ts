import type { Attrs } from "@cognive/semconv";
import {
  decodeRequest,
  expect,
  type Reader,
  readBytesHex,
  readFixed64,
  readGroup,
  readKeyValue,
  readResource,
  readScope,
  readString,
  skip,
  sub,
} from "./decode-proto.ts";
import {
  type DecodedBuckets,
  type DecodedExemplar,
  type DecodedMetric,
  type DecodedMetrics,
  type DecodedPoint,
  type DecodedResourceMetrics,
  type DecodedScopeMetrics,
  emptyPoint,
  MAX_POINT_BUCKETS,
  type MetricKind,
} from "./metrics-model.ts";
import { DecodeError } from "./model.ts";

/** Decodes an OTLP ExportMetricsServiceRequest with the same wire walker as traces. */
export function decodeMetricsProto(body: Uint8Array): DecodedMetrics {
  return { resourceMetrics: decodeRequest(body, readResourceMetrics) };
}

function readResourceMetrics(r: Reader, end: number): DecodedResourceMetrics {
  const out: DecodedResourceMetrics = { resource: {}, schemaUrl: "", scopeMetrics: [] };
  out.schemaUrl = readGroup(
    r,
    end,
    (e) => {
      out.resource = readResource(r, e);
    },
    (e) => out.scopeMetrics.push(readScopeMetrics(r, e)),
  );
  return out;
}

function readScopeMetrics(r: Reader, end: number): DecodedScopeMetrics {
  const out: DecodedScopeMetrics = { scopeName: "", scopeVersion: "", scopeAttributes: {}, schemaUrl: "", metrics: [] };
  out.schemaUrl = readGroup(
    r,
    end,
    (e) => {
      ({ name: out.scopeName, version: out.scopeVersion } = readScope(r, e, out.scopeAttributes));
    },
    (e) => out.metrics.push(readMetric(r, e)),
  );
  return out;
}

/** Metric.data oneof field numbers. */
const KINDS: Record<number, MetricKind> = {
  5: "gauge",
  7: "sum",
  9: "histogram",
  10: "exponentialHistogram",
  11: "summary",
};

function readMetric(r: Reader, end: number): DecodedMetric {
  const m: DecodedMetric = {
    name: "",
    description: "",
    unit: "",
    kind: null,
    temporality: 0,
    monotonic: false,
    points: [],
  };
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === 1 || field === 2 || field === 3) {
      expect(tag, 2);
      const s = readString(r);
      if (field === 1) m.name = s;
      else if (field === 2) m.description = s;
      else m.unit = s;
      continue;
    }
    const kind = KINDS[field];
    if (kind === undefined) {
      skip(r, tag);
      continue;
    }
    expect(tag, 2);
    // A oneof: the last one on the wire wins, as protobuf says.
    m.kind = kind;
    m.points = [];
    const dataEnd = sub(r);
    while (r.pos < dataEnd) {
      const t = r.uint32();
      if (t === ((1 << 3) | 2)) m.points.push(readPoint(r, sub(r), kind));
      else if (t === ((2 << 3) | 0) && kind !== "gauge" && kind !== "summary") m.temporality = r.int32();
      else if (t === ((3 << 3) | 0) && kind === "sum") m.monotonic = r.bool();
      else skip(r, t);
    }
  }
  return m;
}

/** A repeated fixed64 / double / varint field, packed or not, bounded to MAX_POINT_BUCKETS. */
function readRepeated(r: Reader, tag: number, into: number[], read: () => number, scalarWire: number, p: DecodedPoint) {
  const push = (v: number) => {
    if (into.length < MAX_POINT_BUCKETS) into.push(v);
    else p.invalid ??= `more than ${MAX_POINT_BUCKETS} buckets in one data point`;
  };
  if ((tag & 7) === 2) {
    const end = sub(r);
    while (r.pos < end) push(read());
    if (r.pos !== end) throw new DecodeError("invalid protobuf: packed field overruns its length");
  } else {
    expect(tag, scalarWire);
    push(read());
  }
}

function readPoint(r: Reader, end: number, kind: MetricKind): DecodedPoint {
  const p = emptyPoint();
  const fixed64 = () => Number(readFixed64(r));
  const double = () => r.double();
  // Field numbers differ per point type; these are the ones that differ.
  const attributesField = kind === "histogram" ? 9 : kind === "exponentialHistogram" ? 1 : 7;
  const flagsField = kind === "histogram" || kind === "exponentialHistogram" ? 10 : 8;
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === attributesField) {
      expect(tag, 2);
      readKeyValue(r, sub(r), p.attributes, 0);
    } else if (field === 2) {
      expect(tag, 1);
      p.startNs = readFixed64(r);
    } else if (field === 3) {
      expect(tag, 1);
      p.timeNs = readFixed64(r);
    } else if (field === flagsField) {
      expect(tag, 0);
      p.flags = r.uint32();
    } else if (kind === "gauge" || kind === "sum") {
      if (field === 4) {
        expect(tag, 1);
        p.value = r.double();
      } else if (field === 6) {
        expect(tag, 1);
        p.value = Number(r.sfixed64().toString());
      } else if (field === 5) {
        expect(tag, 2);
        p.exemplars.push(readExemplar(r, sub(r)));
      } else skip(r, tag);
    } else if (field === 4) {
      expect(tag, 1);
      p.count = fixed64();
    } else if (field === 5) {
      expect(tag, 1);
      p.sum = r.double();
    } else if (kind === "histogram") {
      if (field === 6) readRepeated(r, tag, p.bucketCounts, fixed64, 1, p);
      else if (field === 7) readRepeated(r, tag, p.explicitBounds, double, 1, p);
      else if (field === 8) {
        expect(tag, 2);
        p.exemplars.push(readExemplar(r, sub(r)));
      } else if (field === 11) {
        expect(tag, 1);
        p.min = r.double();
      } else if (field === 12) {
        expect(tag, 1);
        p.max = r.double();
      } else skip(r, tag);
    } else if (kind === "exponentialHistogram") {
      if (field === 6) {
        expect(tag, 0);
        p.scale = r.sint32();
      } else if (field === 7) {
        expect(tag, 1);
        p.zeroCount = fixed64();
      } else if (field === 8 || field === 9) {
        expect(tag, 2);
        readBuckets(r, sub(r), field === 8 ? p.positive : p.negative, p);
      } else if (field === 11) {
        expect(tag, 2);
        p.exemplars.push(readExemplar(r, sub(r)));
      } else if (field === 12) {
        expect(tag, 1);
        p.min = r.double();
      } else if (field === 13) {
        expect(tag, 1);
        p.max = r.double();
      } else skip(r, tag);
    } else if (kind === "summary" && field === 6) {
      expect(tag, 2);
      const qEnd = sub(r);
      const q = { quantile: 0, value: 0 };
      while (r.pos < qEnd) {
        const t = r.uint32();
        if (t === ((1 << 3) | 1)) q.quantile = r.double();
        else if (t === ((2 << 3) | 1)) q.value = r.double();
        else skip(r, t);
      }
      if (p.quantiles.length < MAX_POINT_BUCKETS) p.quantiles.push(q);
      else p.invalid ??= `more than ${MAX_POINT_BUCKETS} quantiles in one data point`;
    } else skip(r, tag);
  }
  if (r.pos !== end) throw new DecodeError("invalid protobuf: data point overruns its length");
  return p;
}

function readBuckets(r: Reader, end: number, into: DecodedBuckets, p: DecodedPoint): void {
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | 0)) into.offset = r.sint32();
    else if (tag >>> 3 === 2) readRepeated(r, tag, into.counts, () => Number(r.uint64().toString()), 0, p);
    else skip(r, tag);
  }
}

function readExemplar(r: Reader, end: number): DecodedExemplar {
  const e: DecodedExemplar = { filteredAttributes: {} as Attrs, timeNs: 0n, value: 0, spanId: "", traceId: "" };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case (7 << 3) | 2:
        readKeyValue(r, sub(r), e.filteredAttributes, 0);
        break;
      case (2 << 3) | 1:
        e.timeNs = readFixed64(r);
        break;
      case (3 << 3) | 1:
        e.value = r.double();
        break;
      case (6 << 3) | 1:
        e.value = Number(r.sfixed64().toString());
        break;
      case (4 << 3) | 2:
        e.spanId = readBytesHex(r);
        break;
      case (5 << 3) | 2:
        e.traceId = readBytesHex(r);
        break;
      default:
        skip(r, tag);
    }
  }
  return e;
}
