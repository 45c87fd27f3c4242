import { type Logger, peerAddress, retryStatusDetails } from "@cognive/collector";
import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs";
import { GRPC_ROUTES } from "../api/permissions.ts";
import { MAX_BODY_BYTES } from "../app.ts";

/**
 * Tempo's streaming query API (`tempopb.StreamingQuerier`), which Grafana's Tempo data source uses
 * with streaming on and `tempo-cli --use-grpc` calls. Only the fields Cognive reads or answers are
 * declared; the numbers are Tempo's (`pkg/tempopb/tempo.proto`), and `KeyValue`/`AnyValue` are
 * OpenTelemetry's common.proto under Tempo's package name.
 */
export const STREAMING_PROTO = `
syntax = "proto3";
package tempopb;

service StreamingQuerier {
  rpc Search(SearchRequest) returns (stream SearchResponse);
  rpc SearchTags(SearchTagsRequest) returns (stream SearchTagsResponse);
  rpc SearchTagsV2(SearchTagsRequest) returns (stream SearchTagsV2Response);
  rpc SearchTagValues(SearchTagValuesRequest) returns (stream SearchTagValuesResponse);
  rpc SearchTagValuesV2(SearchTagValuesRequest) returns (stream SearchTagValuesV2Response);
  rpc MetricsQueryRange(QueryRangeRequest) returns (stream QueryRangeResponse);
  rpc MetricsQueryInstant(QueryInstantRequest) returns (stream QueryInstantResponse);
}

message SearchRequest {
  map<string, string> Tags = 1;
  uint32 MinDurationMs = 2;
  uint32 MaxDurationMs = 3;
  uint32 Limit = 4;
  uint32 start = 5;
  uint32 end = 6;
  string Query = 8;
  uint32 SpansPerSpanSet = 9;
}
message SearchResponse {
  repeated TraceSearchMetadata traces = 1;
  SearchMetrics metrics = 2;
}
message TraceSearchMetadata {
  string traceID = 1;
  string rootServiceName = 2;
  string rootTraceName = 3;
  uint64 startTimeUnixNano = 4;
  uint32 durationMs = 5;
  repeated SpanSet spanSets = 7;
}
message SpanSet {
  repeated Span spans = 1;
  uint32 matched = 2;
  repeated tempopb.common.v1.KeyValue attributes = 3;
}
message Span {
  string spanID = 1;
  string name = 2;
  uint64 startTimeUnixNano = 3;
  uint64 durationNanos = 4;
  repeated tempopb.common.v1.KeyValue attributes = 5;
}
message SearchMetrics {
  uint32 inspectedTraces = 1;
  uint64 inspectedBytes = 2;
  uint32 totalBlocks = 3;
  uint32 completedJobs = 4;
  uint32 totalJobs = 5;
  uint64 totalBlockBytes = 6;
  uint64 inspectedSpans = 7;
}

message SearchTagsRequest {
  string scope = 1;
  string query = 2;
  uint32 start = 3;
  uint32 end = 4;
  uint32 maxTagsPerScope = 5;
}
message SearchTagsResponse {
  repeated string tagNames = 1;
}
message SearchTagsV2Response {
  repeated SearchTagsV2Scope scopes = 1;
}
message SearchTagsV2Scope {
  string name = 1;
  repeated string tags = 2;
}
message SearchTagValuesRequest {
  string tagName = 1;
  string query = 2;
  uint32 start = 4;
  uint32 end = 5;
  uint32 maxTagValues = 6;
}
message SearchTagValuesResponse {
  repeated string tagValues = 1;
}
message TagValue {
  string type = 1;
  string value = 2;
}
message SearchTagValuesV2Response {
  repeated TagValue tagValues = 1;
}

message QueryRangeRequest {
  string query = 1;
  uint64 start = 2;
  uint64 end = 3;
  uint64 step = 4;
  string queryMode = 7;
  uint32 exemplars = 16;
  uint32 maxSeries = 17;
  optional bool instant = 18;
}
enum PartialStatus {
  COMPLETE = 0;
  PARTIAL = 1;
}
message QueryRangeResponse {
  repeated TimeSeries series = 1;
  SearchMetrics metrics = 2;
  PartialStatus status = 3;
  string message = 4;
}
message TimeSeries {
  repeated tempopb.common.v1.KeyValue labels = 1;
  repeated Sample samples = 2;
}
message Sample {
  int64 timestamp_ms = 2;
  double value = 1;
}
message QueryInstantRequest {
  string query = 1;
  uint64 start = 2;
  uint64 end = 3;
}
message QueryInstantResponse {
  repeated InstantSeries series = 1;
  SearchMetrics metrics = 2;
  PartialStatus status = 3;
  string message = 4;
}
message InstantSeries {
  repeated tempopb.common.v1.KeyValue labels = 1;
  double value = 2;
}
`;

const COMMON_PROTO = `
syntax = "proto3";
package tempopb.common.v1;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue {
  repeated AnyValue values = 1;
}
message KeyValueList {
  repeated KeyValue values = 1;
}
message KeyValue {
  string key = 1;
  AnyValue value = 2;
}
`;

/** The definitions above, resolved (field names in lowerCamelCase, as Tempo's JSON spells them). */
export function streamingRoot(): protobuf.Root {
  const root = new protobuf.Root();
  protobuf.parse(COMMON_PROTO, root);
  protobuf.parse(STREAMING_PROTO, root);
  root.resolveAll();
  return root;
}

export const SERVICE = "tempopb.StreamingQuerier";

/** Tempo's packet size for streamed answers (`max_grpc_streaming_packet_size`): Grafana's client takes 4 MiB at most. */
export const PACKET_BYTES = 1024 * 1024;

/** Metadata passed on as the request's headers: the key, and what Grafana sends besides. */
const FORWARDED_METADATA = ["authorization", "user-agent", "x-scope-orgid"];

type Fields = Record<string, unknown>;

interface Method {
  request: string;
  response: string;
  /** The repeated field a long answer is split on, each packet a diff Grafana adds up. */
  list: string;
  /** The HTTP request (path and query) that answers it. */
  http(req: Fields): string;
  /** The route's JSON answer as the response message's fields. */
  answer(json: Fields, req: Fields): Fields;
}

const ns = (v: unknown): bigint => BigInt(String(v ?? 0));
const query = (params: Record<string, string | number | bigint | undefined>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== "" && v !== 0 && v !== 0n) p.set(k, String(v));
  return p.toString();
};

/** A gRPC status an answer ends with instead of OK. */
class CallError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** `key="value"` pairs of the pre-TraceQL search, as `/api/search?tags=` takes them. */
function logfmt(tags: Record<string, string>): string {
  return Object.entries(tags)
    .map(([k, v]) => `${k}="${v.replace(/["\\]/g, "\\$&")}"`)
    .join(" ");
}

/** An instant query is a range query with one step spanning the whole range (Tempo does the same). */
function instantRange(req: Fields): { start: bigint; end: bigint } {
  const end = ns(req.end) || BigInt(Date.now()) * 1_000_000n;
  const start = ns(req.start) || end - 3_600_000_000_000n;
  if (end <= start)
    throw new CallError(grpc.status.INVALID_ARGUMENT, "invalid TraceQL metrics query: end must be after start");
  return { start, end };
}

const METHODS: Record<string, Method> = {
  Search: {
    request: "SearchRequest",
    response: "SearchResponse",
    list: "traces",
    http: (r) => {
      const q = String(r.Query ?? "");
      const tags = (r.Tags ?? {}) as Record<string, string>;
      return `/api/search?${query({
        q,
        ...(q.trim() === ""
          ? {
              tags: logfmt(tags),
              minDuration: r.MinDurationMs ? `${r.MinDurationMs}ms` : undefined,
              maxDuration: r.MaxDurationMs ? `${r.MaxDurationMs}ms` : undefined,
            }
          : {}),
        start: r.start as number,
        end: r.end as number,
        limit: r.Limit as number,
        spss: r.SpansPerSpanSet as number,
      })}`;
    },
    answer: (json) => json,
  },
  SearchTags: {
    request: "SearchTagsRequest",
    response: "SearchTagsResponse",
    list: "tagNames",
    http: (r) =>
      `/api/search/tags?${query({ start: r.start as number, end: r.end as number, limit: r.maxTagsPerScope as number })}`,
    answer: (json) => json,
  },
  SearchTagsV2: {
    request: "SearchTagsRequest",
    response: "SearchTagsV2Response",
    list: "scopes",
    http: (r) =>
      `/api/v2/search/tags?${query({
        scope: r.scope as string,
        start: r.start as number,
        end: r.end as number,
        limit: r.maxTagsPerScope as number,
      })}`,
    answer: (json) => json,
  },
  SearchTagValues: {
    request: "SearchTagValuesRequest",
    response: "SearchTagValuesResponse",
    list: "tagValues",
    http: (r) => tagValuesPath("/api/search/tag", r),
    answer: (json) => json,
  },
  SearchTagValuesV2: {
    request: "SearchTagValuesRequest",
    response: "SearchTagValuesV2Response",
    list: "tagValues",
    http: (r) => tagValuesPath("/api/v2/search/tag", r),
    answer: (json) => json,
  },
  MetricsQueryRange: {
    request: "QueryRangeRequest",
    response: "QueryRangeResponse",
    list: "series",
    http: (r) => {
      const { start, end } = r.instant ? instantRange(r) : { start: ns(r.start), end: ns(r.end) };
      const step = r.instant ? end - start : ns(r.step);
      return `/api/metrics/query_range?${query({ q: String(r.query ?? ""), start, end, step: step > 0n ? `${step}ns` : undefined })}`;
    },
    answer: (json) => json,
  },
  MetricsQueryInstant: {
    request: "QueryInstantRequest",
    response: "QueryInstantResponse",
    list: "series",
    http: (r) => {
      const { start, end } = instantRange(r);
      return `/api/metrics/query?${query({ q: String(r.query ?? ""), start, end })}`;
    },
    answer: (json) => json,
  },
};

function tagValuesPath(base: string, r: Fields): string {
  const tag = String(r.tagName ?? "");
  if (tag === "") throw new CallError(grpc.status.INVALID_ARGUMENT, "tagName is required");
  return `${base}/${encodeURIComponent(tag)}/values?${query({
    q: r.query as string,
    start: r.start as number,
    end: r.end as number,
    limit: r.maxTagValues as number,
  })}`;
}

/**
 * Throws unless each top-level field of `bytes` has the wire type its declaration needs: protobufjs
 * reads a string where a number is declared as a number, which would answer a wrongly typed request.
 */
function checkWireTypes(type: protobuf.Type, bytes: Uint8Array): void {
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = type.fieldsById[tag >>> 3];
    const wire = tag & 7;
    if (field) {
      const expected =
        field.map || field.resolvedType instanceof protobuf.Type
          ? 2
          : field.resolvedType instanceof protobuf.Enum
            ? 0
            : protobuf.types.basic[field.type as keyof typeof protobuf.types.basic];
      // Repeated scalars may come packed.
      if (wire !== expected && !(field.repeated && wire === 2)) {
        throw new Error(`field ${field.name} has wire type ${wire}`);
      }
    }
    reader.skipType(wire);
  }
}

/** The gRPC status of an HTTP error answer of the query app (its message kept: it is the caller's to read). */
function statusOf(res: Response, message: string): CallError {
  const retry = Number(res.headers.get("retry-after")) || undefined;
  switch (res.status) {
    case 400:
      return new CallError(grpc.status.INVALID_ARGUMENT, message);
    case 401:
      return new CallError(grpc.status.UNAUTHENTICATED, message);
    case 403:
      return new CallError(grpc.status.PERMISSION_DENIED, message);
    case 404:
      return new CallError(grpc.status.NOT_FOUND, message);
    case 413:
    case 414:
    case 422:
      return new CallError(grpc.status.RESOURCE_EXHAUSTED, message);
    case 429:
      return new CallError(grpc.status.RESOURCE_EXHAUSTED, message, retry ?? 1);
    case 503:
      return new CallError(grpc.status.UNAVAILABLE, message, retry ?? 1);
    default:
      return new CallError(grpc.status.INTERNAL, "internal error");
  }
}

/** Splits an answer into packets of about `PACKET_BYTES` on its list field; at least one packet. */
export function packets(type: protobuf.Type, fields: Fields, list: string, max = PACKET_BYTES): Uint8Array[] {
  const message = type.fromObject(fields) as unknown as Record<string, unknown[]>;
  const items = message[list] ?? [];
  const itemType = type.fields[list].resolvedType as protobuf.Type | null;
  const size = (item: unknown) =>
    itemType ? itemType.encode(item as protobuf.Message).finish().length + 8 : Buffer.byteLength(String(item)) + 8;
  const out: Uint8Array[] = [];
  let batch: unknown[] = [];
  let bytes = 0;
  const flush = () => {
    message[list] = batch;
    out.push(type.encode(message as unknown as protobuf.Message).finish());
    batch = [];
    bytes = 0;
  };
  for (const item of items) {
    const n = size(item);
    if (batch.length > 0 && bytes + n > max) flush();
    batch.push(item);
    bytes += n;
  }
  if (batch.length > 0 || out.length === 0) flush();
  return out;
}

export interface StreamingDeps {
  /** The query app: every call is answered by the route its HTTP twin uses, with the same key checks. */
  fetch(request: Request, env: unknown): Response | Promise<Response>;
  log: Logger;
}

/**
 * The StreamingQuerier service. Each call becomes the matching Tempo HTTP request to the query app
 * (see `GRPC_ROUTES`), so keys, roles, team scope, rate and read limits and error messages are the
 * HTTP API's own; the JSON answer is re-encoded and streamed in packets, then the stream ends
 * (Grafana takes the end of the stream as "done").
 */
export function createStreamingServer(deps: StreamingDeps): grpc.Server {
  const root = streamingRoot();
  const server = new grpc.Server({
    // Requests are a query and a few numbers: the read API's body limit.
    "grpc.max_receive_message_length": MAX_BODY_BYTES,
  });
  const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  const raw = (b: Buffer) => b;
  for (const [name, method] of Object.entries(METHODS)) {
    const path = `/${SERVICE}/${name}`;
    definition[name] = {
      path,
      requestStream: false,
      responseStream: true,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      responseDeserialize: raw,
    };
    const requestType = root.lookupType(`tempopb.${method.request}`);
    const responseType = root.lookupType(`tempopb.${method.response}`);
    handlers[name] = (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const fail = (err: CallError) => {
        const metadata = new grpc.Metadata();
        if (err.retryAfterSeconds !== undefined) {
          metadata.set("grpc-status-details-bin", retryStatusDetails(err.code, err.message, err.retryAfterSeconds));
        }
        call.emit("error", { code: err.code, details: err.message, metadata });
      };
      const abort = new AbortController();
      call.on("cancelled", () => abort.abort());
      answer(call, method, requestType, responseType, abort.signal)
        .then((chunks) => {
          if (abort.signal.aborted) return;
          for (const chunk of chunks) call.write(Buffer.from(chunk));
          call.end();
        })
        .catch((err) => {
          if (abort.signal.aborted) return; // nobody reads the answer
          if (err instanceof CallError) return fail(err);
          deps.log.error("Tempo gRPC call failed", { err, method: path });
          fail(new CallError(grpc.status.INTERNAL, "internal error"));
        });
    };
  }
  const answer = async (
    call: grpc.ServerWritableStream<Buffer, Buffer>,
    method: Method,
    requestType: protobuf.Type,
    responseType: protobuf.Type,
    signal: AbortSignal,
  ): Promise<Uint8Array[]> => {
    let req: Fields;
    try {
      checkWireTypes(requestType, call.request);
      req = requestType.toObject(requestType.decode(call.request), { longs: String, defaults: true });
    } catch (err) {
      throw new CallError(
        grpc.status.INVALID_ARGUMENT,
        `undecodable ${requestType.name}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const headers = new Headers();
    for (const key of FORWARDED_METADATA) {
      const value = call.metadata.get(key)[0];
      if (typeof value === "string") headers.set(key, value);
    }
    const request = new Request(`http://localhost${method.http(req)}`, { headers, signal });
    const env = { incoming: { socket: { remoteAddress: peerAddress(call.getPeer()) } } };
    const res = await deps.fetch(request, env);
    const text = await res.text();
    let json: Fields;
    try {
      json = JSON.parse(text);
    } catch {
      throw statusOf(res, "internal error");
    }
    if (!res.ok) {
      const message = (json as { error?: { message?: string } }).error?.message ?? `HTTP ${res.status}`;
      throw statusOf(res, message);
    }
    return packets(responseType, method.answer(json, req), method.list);
  };
  server.addService(definition, handlers);
  return server;
}

/** Every method's path, for the permission table's test. */
export const STREAMING_METHODS = Object.keys(METHODS).map((name) => `/${SERVICE}/${name}`);

// Each method answers through a declared route: a method without one would not be checked.
for (const path of STREAMING_METHODS) {
  if (!(path in GRPC_ROUTES)) throw new Error(`${path} has no route in GRPC_ROUTES`);
}
