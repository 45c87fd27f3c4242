import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs/minimal.js";
import { ANONYMOUS, type AuthRuntime } from "../auth/runtime.ts";
import type { Logger } from "../log.ts";
import type { CollectorMetrics } from "../metrics.ts";
import { DecodeError } from "../otlp/model.ts";
import type { IngestResult } from "../pipeline/ingest.ts";
import { BackpressureError, PermanentWriteError, StorageUnavailableError } from "../pipeline/writer.ts";
import { decodeAndSubmit, exportResponseProto, type OtlpSignal, TRACE_EXPORT_PATH } from "./otlp-common.ts";

export interface OtlpGrpcConfig {
  /** Largest accepted message in bytes, compressed or decompressed (grpc-js enforces it: RESOURCE_EXHAUSTED). */
  maxBodyBytes: number;
  /** Seconds a client is told to wait (RetryInfo) when storage is busy or down. */
  retryAfterSeconds: number;
}

const raw = (b: Buffer): Buffer => b;

/**
 * An OTLP `Export` service with the message left as bytes: the same decoder as OTLP/HTTP reads it,
 * so an undecodable message is INVALID_ARGUMENT (a throwing grpc-js deserializer would answer INTERNAL).
 */
export function exportServiceDefinition(path: string): grpc.ServiceDefinition {
  return {
    Export: {
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      responseDeserialize: raw,
    },
  };
}

export const traceServiceDefinition = exportServiceDefinition(TRACE_EXPORT_PATH);

/** `grpc-status-details-bin`: google.rpc.Status{code, message, details: [Any(google.rpc.RetryInfo)]}. */
export function retryStatusDetails(code: grpc.status, message: string, delaySeconds: number): Buffer {
  const seconds = Math.floor(delaySeconds);
  const nanos = Math.round((delaySeconds - seconds) * 1e9);
  const duration = protobuf.Writer.create();
  if (seconds > 0) duration.uint32(8).int64(seconds);
  if (nanos > 0) duration.uint32(16).int32(nanos);
  const retryInfo = protobuf.Writer.create().uint32(10).bytes(duration.finish()).finish();
  const any = protobuf.Writer.create()
    .uint32(10)
    .string("type.googleapis.com/google.rpc.RetryInfo")
    .uint32(18)
    .bytes(retryInfo)
    .finish();
  return Buffer.from(
    protobuf.Writer.create().uint32(8).int32(code).uint32(18).string(message).uint32(26).bytes(any).finish(),
  );
}

/** The peer's address without its port ("127.0.0.1:5123" → "127.0.0.1", "::1:5123" → "::1"). */
export function peerAddress(peer: string): string {
  return peer.replace(/^\[?(.*?)\]?:\d+$/, "$1");
}

/** OTLP/gRPC receiver: each signal's `…Service/Export` (`opentelemetry.proto.collector.<signal>.v1`). */
export function createOtlpGrpcServer(deps: {
  signals: readonly OtlpSignal<any>[];
  metrics: CollectorMetrics;
  log: Logger;
  config: OtlpGrpcConfig;
  /** Keys and rate limits; without it every request is anonymous and unlimited. */
  auth: AuthRuntime | null;
}): grpc.Server {
  const { metrics, log, config } = deps;
  const server = new grpc.Server({
    "grpc.max_receive_message_length": config.maxBodyBytes,
    "grpc.max_send_message_length": 4 * 1024 * 1024,
  });

  const answer = (
    signal: OtlpSignal<any>,
    callback: grpc.sendUnaryData<Buffer>,
    code: grpc.status,
    message: string,
    retryAfterSeconds?: number,
  ) => {
    metrics.requests.inc({ signal: signal.name, status: grpc.status[code] ?? String(code) });
    const metadata = new grpc.Metadata();
    if (retryAfterSeconds !== undefined) {
      metadata.set("grpc-status-details-bin", retryStatusDetails(code, message, retryAfterSeconds));
    }
    callback({ code, details: message, metadata });
  };
  const whole = (seconds: number) => Math.max(1, Math.ceil(seconds));

  const exportSignal = async <D>(
    signal: OtlpSignal<D>,
    call: grpc.ServerUnaryCall<Buffer, Buffer>,
    callback: grpc.sendUnaryData<Buffer>,
  ) => {
    const { UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED, INVALID_ARGUMENT, UNAVAILABLE } = grpc.status;
    let identity = ANONYMOUS;
    if (deps.auth) {
      const header = call.metadata.get("authorization")[0];
      const outcome = deps.auth.check(typeof header === "string" ? header : undefined, peerAddress(call.getPeer()));
      if (!outcome.ok) return answer(signal, callback, UNAUTHENTICATED, outcome.reason);
      identity = outcome.identity;
      if (identity.role !== "ingest" && identity.role !== "admin") {
        return answer(
          signal,
          callback,
          PERMISSION_DENIED,
          `a ${identity.role} key cannot write ${signal.items}; use an ingest key`,
        );
      }
      const take = await deps.auth.limit(identity, "requests");
      if (!take.allowed) {
        return answer(
          signal,
          callback,
          RESOURCE_EXHAUSTED,
          "request rate limit of this key reached",
          whole(take.retryAfterSeconds),
        );
      }
    }
    let pending: Promise<IngestResult>;
    try {
      // After a storage failure the first request to arrive checks whether storage is back.
      if (!signal.writer.healthy) await signal.writer.probe();
      const outcome = await decodeAndSubmit(signal, deps.auth, call.request, "proto", identity, "grpc");
      if ("refused" in outcome) {
        return answer(signal, callback, RESOURCE_EXHAUSTED, outcome.message, whole(outcome.refused.retryAfterSeconds));
      }
      pending = outcome.pending;
    } catch (err) {
      if (err instanceof DecodeError) return answer(signal, callback, INVALID_ARGUMENT, err.message);
      if (err instanceof BackpressureError || err instanceof StorageUnavailableError) {
        return answer(signal, callback, UNAVAILABLE, err.message, config.retryAfterSeconds);
      }
      throw err;
    }
    let result: IngestResult;
    try {
      result = await pending;
    } catch (err) {
      // Retrying the same items cannot succeed: INVALID_ARGUMENT tells the exporter to drop them.
      if (err instanceof PermanentWriteError) return answer(signal, callback, INVALID_ARGUMENT, err.message);
      log.debug("export refused: storage unavailable", { err });
      return answer(
        signal,
        callback,
        UNAVAILABLE,
        "storage unavailable; nothing from this request was stored, retry later",
        config.retryAfterSeconds,
      );
    }
    metrics.requests.inc({ signal: signal.name, status: "OK" });
    callback(null, Buffer.from(exportResponseProto(result)));
  };

  for (const signal of deps.signals) {
    server.addService(exportServiceDefinition(signal.grpcPath), {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        exportSignal(signal, call, callback).catch((err) => {
          log.error("OTLP/gRPC export failed", { err, signal: signal.name });
          answer(signal, callback, grpc.status.INTERNAL, "internal error");
        });
      },
    });
  }
  return server;
}

/** PEM certificate chain and private key for serving OTLP/gRPC over TLS. */
export interface GrpcTls {
  cert: Buffer;
  key: Buffer;
}

/** Binds HTTP/2 on host:port (0 = any free port), plaintext or TLS, and resolves with the port bound. */
export function listenGrpc(server: grpc.Server, host: string, port: number, tls?: GrpcTls): Promise<number> {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  const address = bare.includes(":") ? `[${bare}]:${port}` : `${bare}:${port}`;
  const credentials = tls
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: tls.cert, private_key: tls.key }], false)
    : grpc.ServerCredentials.createInsecure();
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  });
}

/** Stops taking calls and lets calls in flight be answered, for at most `graceMs`; then drops them. */
export function shutdownGrpc(server: grpc.Server | undefined, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server) return resolve();
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
