import type { HttpBindings } from "@hono/node-server";
import { Hono } from "hono";
import protobuf from "protobufjs/minimal.js";
import type { Take } from "../auth/ratelimit.ts";
import { ANONYMOUS, type AuthRuntime } from "../auth/runtime.ts";
import type { Logger } from "../log.ts";
import type { CollectorMetrics } from "../metrics.ts";
import { decodeTracesJson } from "../otlp/decode-json.ts";
import { decodeTracesProto } from "../otlp/decode-proto.ts";
import { type DecodedTraces, DecodeError } from "../otlp/model.ts";
import type { IngestPipeline, IngestResult } from "../pipeline/ingest.ts";
import { BackpressureError, PermanentWriteError, StorageUnavailableError } from "../pipeline/writer.ts";
import { BadEncodingError, BodyTooLargeError, readBody, UnsupportedEncodingError } from "./body.ts";
import { countSpans, exportResponseProto, ingestIdentity } from "./otlp-common.ts";

export interface OtlpHttpConfig {
  /** Largest accepted body in bytes, compressed or decompressed. */
  maxBodyBytes: number;
  /** Seconds a client is told to wait after 429/503. */
  retryAfterSeconds: number;
}

type Format = "proto" | "json";
type Env = { Bindings: Partial<HttpBindings> };

function formatOf(contentType: string | undefined): Format | null {
  const ct = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (ct === "application/x-protobuf" || ct === "application/protobuf") return "proto";
  if (ct === "application/json") return "json";
  return null;
}

/** google.rpc.Status, the body OTLP/HTTP prescribes for errors. */
function statusBody(format: Format, code: number, message: string): Uint8Array | string {
  if (format === "json") return JSON.stringify({ code, message });
  return protobuf.Writer.create().uint32(8).int32(code).uint32(18).string(message).finish();
}

/** ExportTraceServiceResponse, with partial_success only when something was rejected. */
function exportResponse(format: Format, result: IngestResult): Uint8Array | string {
  if (format === "proto") return exportResponseProto(result);
  return JSON.stringify(
    result.rejected > 0
      ? { partialSuccess: { rejectedSpans: String(result.rejected), errorMessage: result.errorMessage } }
      : {},
  );
}

const CONTENT_TYPES: Record<Format, string> = { proto: "application/x-protobuf", json: "application/json" };

/** Seconds to wait, whole and at least 1 (OTLP exporters honour Retry-After). */
function retryAfter(take: Take): Record<string, string> {
  return { "retry-after": String(Math.max(1, Math.ceil(take.retryAfterSeconds))) };
}

/** The client went away while its body was being read. */
function isAbort(err: unknown): boolean {
  const e = err as { code?: string; name?: string } | null;
  return (
    e?.code === "ECONNRESET" ||
    e?.code === "ERR_STREAM_PREMATURE_CLOSE" ||
    e?.name === "AbortError" ||
    /aborted/i.test(String(err))
  );
}

function decode(format: Format, body: Buffer): DecodedTraces {
  return format === "proto" ? decodeTracesProto(body) : decodeTracesJson(body.toString("utf8"));
}

/** OTLP/HTTP trace receiver: `POST /v1/traces`. */
export function otlpHttpRoutes(deps: {
  pipeline: IngestPipeline;
  metrics: CollectorMetrics;
  log: Logger;
  config: OtlpHttpConfig;
  /** Keys and rate limits; without it every request is anonymous and unlimited. */
  auth: AuthRuntime | null;
}): Hono<Env> {
  const { pipeline, metrics, log, config } = deps;
  const app = new Hono<Env>();

  const retry = { "retry-after": String(config.retryAfterSeconds) };

  app.post("/v1/traces", async (c) => {
    const format = formatOf(c.req.header("content-type"));
    const reply = (status: number, body: Uint8Array | string, f: Format, headers: Record<string, string> = {}) => {
      metrics.requests.inc({ signal: "traces", status: String(status) });
      return new Response(body as BodyInit, { status, headers: { "content-type": CONTENT_TYPES[f], ...headers } });
    };
    if (format === null) {
      return reply(
        415,
        statusBody(
          "json",
          3,
          `unsupported Content-Type "${c.req.header("content-type") ?? ""}"; use application/x-protobuf or application/json`,
        ),
        "json",
      );
    }
    // Who is sending, before a byte of the body is read.
    let identity = ANONYMOUS;
    if (deps.auth) {
      const source = c.env?.incoming?.socket?.remoteAddress ?? "";
      const outcome = deps.auth.check(c.req.header("authorization"), source);
      if (!outcome.ok) {
        return reply(401, statusBody(format, 16, outcome.reason), format, {
          "www-authenticate": 'Bearer realm="cognive"',
        });
      }
      identity = outcome.identity;
      if (identity.role !== "ingest" && identity.role !== "admin") {
        return reply(
          403,
          statusBody(format, 7, `a ${identity.role} key cannot write spans; use an ingest key`),
          format,
        );
      }
      const take = await deps.auth.limit(identity, "requests");
      if (!take.allowed) {
        return reply(429, statusBody(format, 8, "request rate limit of this key reached"), format, retryAfter(take));
      }
    }
    const declared = Number(c.req.header("content-length") ?? "0");
    if (declared > config.maxBodyBytes) {
      return reply(
        413,
        statusBody(format, 8, `request body of ${declared} bytes exceeds ${config.maxBodyBytes}`),
        format,
      );
    }
    let pending: Promise<IngestResult>;
    try {
      const source = (c.env?.incoming as AsyncIterable<Uint8Array> | undefined) ?? c.req.raw.body;
      const body = await readBody(source ?? null, c.req.header("content-encoding"), config.maxBodyBytes);
      // After a storage failure the first request to arrive checks whether storage is back.
      if (!pipeline.writer.healthy) await pipeline.writer.probe();
      const decoded = decode(format, body);
      if (deps.auth) {
        const take = await deps.auth.limit(identity, "spans", countSpans(decoded));
        if (!take.allowed) {
          return reply(429, statusBody(format, 8, "span rate limit of this key reached"), format, retryAfter(take));
        }
      }
      pending = pipeline.submit(decoded, ingestIdentity(identity), format);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return reply(413, statusBody(format, 8, err.message), format);
      if (err instanceof UnsupportedEncodingError) return reply(415, statusBody(format, 3, err.message), format);
      if (err instanceof DecodeError || err instanceof BadEncodingError) {
        return reply(400, statusBody(format, 3, err.message), format);
      }
      if (err instanceof BackpressureError) return reply(429, statusBody(format, 8, err.message), format, retry);
      if (err instanceof StorageUnavailableError) return reply(503, statusBody(format, 14, err.message), format, retry);
      if (isAbort(err)) {
        metrics.requestsAborted.inc();
        log.debug("export aborted by the client before its body was read", { err: String(err) });
        return reply(499, statusBody(format, 1, "client closed the request"), format);
      }
      throw err;
    }
    try {
      return reply(200, exportResponse(format, await pending), format);
    } catch (err) {
      if (err instanceof PermanentWriteError) {
        // Retrying the same spans cannot succeed: a 400 tells the exporter to drop them.
        return reply(400, statusBody(format, 3, err.message), format);
      }
      log.debug("export refused: storage unavailable", { err });
      return reply(
        503,
        statusBody(format, 14, "storage unavailable; nothing from this request was stored, retry later"),
        format,
        retry,
      );
    }
  });

  return app;
}
