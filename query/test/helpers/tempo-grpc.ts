import * as grpc from "@grpc/grpc-js";
import { SERVICE, streamingRoot } from "../../src/tempo/streaming.ts";

/** What a server-streaming call gave: its messages (decoded) and its final status. */
export interface StreamAnswer {
  messages: Record<string, any>[];
  code: grpc.status;
  details: string;
  trailers?: grpc.Metadata;
}

const REQUESTS: Record<string, [string, string]> = {
  Search: ["SearchRequest", "SearchResponse"],
  SearchTags: ["SearchTagsRequest", "SearchTagsResponse"],
  SearchTagsV2: ["SearchTagsRequest", "SearchTagsV2Response"],
  SearchTagValues: ["SearchTagValuesRequest", "SearchTagValuesResponse"],
  SearchTagValuesV2: ["SearchTagValuesRequest", "SearchTagValuesV2Response"],
  MetricsQueryRange: ["QueryRangeRequest", "QueryRangeResponse"],
  MetricsQueryInstant: ["QueryInstantRequest", "QueryInstantResponse"],
};

const root = streamingRoot();
const raw = (b: Buffer) => b;

/** A grpc-js client of Tempo's StreamingQuerier on a Cognive query URL (`http://127.0.0.1:<port>`). */
export function streamingClient(queryUrl: string) {
  const Client = grpc.makeGenericClientConstructor({}, "StreamingQuerier");
  const client = new Client(new URL(queryUrl).host, grpc.credentials.createInsecure(), {
    "grpc.max_send_message_length": -1,
  });
  /** Sends `message` as is (any bytes) to `/tempopb.StreamingQuerier/<method>`. */
  const callRaw = (method: string, message: Buffer, metadata: Record<string, string> = {}): Promise<StreamAnswer> => {
    const meta = new grpc.Metadata();
    for (const [k, v] of Object.entries(metadata)) meta.set(k, v);
    const responseType = root.lookupType(`tempopb.${REQUESTS[method]?.[1] ?? "SearchResponse"}`);
    return new Promise((resolve) => {
      const messages: Record<string, any>[] = [];
      const stream = client.makeServerStreamRequest(`/${SERVICE}/${method}`, raw, raw, message, meta, {
        deadline: Date.now() + 30_000,
      });
      stream.on("data", (b: Buffer) => messages.push(responseType.toObject(responseType.decode(b), { longs: String })));
      stream.on("error", (err: grpc.ServiceError) =>
        resolve({ messages, code: err.code, details: err.details, trailers: err.metadata }),
      );
      stream.on("status", (s: grpc.StatusObject) => {
        if (s.code === grpc.status.OK) resolve({ messages, code: s.code, details: s.details, trailers: s.metadata });
      });
    });
  };
  /** Encodes `fields` as the method's request message and calls it. */
  const call = (method: string, fields: Record<string, unknown>, metadata: Record<string, string> = {}) => {
    const type = root.lookupType(`tempopb.${REQUESTS[method][0]}`);
    return callRaw(method, Buffer.from(type.encode(type.fromObject(fields)).finish()), metadata);
  };
  return { call, callRaw, close: () => client.close() };
}

export const STREAMING_METHOD_NAMES = Object.keys(REQUESTS);
