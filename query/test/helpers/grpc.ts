import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs/minimal.js";

/** What a unary call answered: its status, and the response bytes when OK. */
export interface Answer {
  code: grpc.status;
  details: string;
  response?: Buffer;
  metadata?: grpc.Metadata;
}

const raw = (b: Buffer): Buffer => b;

/** One OTLP Export call with the message as bytes (as written by hand), optionally with a key. */
export function unaryExport(client: grpc.Client, path: string, message: Buffer, key?: string): Promise<Answer> {
  const metadata = new grpc.Metadata();
  if (key) metadata.set("authorization", `Bearer ${key}`);
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, raw, raw, message, metadata, { deadline: Date.now() + 30_000 }, (err, res) =>
      resolve(
        err
          ? { code: err.code, details: err.details, metadata: err.metadata }
          : { code: grpc.status.OK, details: "", response: res },
      ),
    );
  });
}

/** google.rpc.RetryInfo's delay in seconds from the `grpc-status-details-bin` trailer, or null. */
export function retryDelaySeconds(metadata: grpc.Metadata | undefined): number | null {
  const bin = metadata?.get("grpc-status-details-bin")[0];
  if (!Buffer.isBuffer(bin)) return null;
  const status = protobuf.Reader.create(bin);
  while (status.pos < status.len) {
    const tag = status.uint32();
    if (tag >>> 3 !== 3) {
      status.skipType(tag & 7);
      continue;
    }
    const any = protobuf.Reader.create(status.bytes());
    let typeUrl = "";
    let value: Uint8Array = new Uint8Array(0);
    while (any.pos < any.len) {
      const t = any.uint32();
      if (t === 10) typeUrl = any.string();
      else if (t === 18) value = any.bytes();
      else any.skipType(t & 7);
    }
    if (typeUrl !== "type.googleapis.com/google.rpc.RetryInfo") continue;
    const info = protobuf.Reader.create(value);
    info.uint32(); // retry_delay = 1
    const duration = protobuf.Reader.create(info.bytes());
    let seconds = 0;
    let nanos = 0;
    while (duration.pos < duration.len) {
      const t = duration.uint32();
      if (t === 8) seconds = Number(duration.int64());
      else if (t === 16) nanos = duration.int32();
      else duration.skipType(t & 7);
    }
    return seconds + nanos / 1e9;
  }
  return null;
}
