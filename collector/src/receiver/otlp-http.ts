import type { HttpBindings } from "@hono/node-server";
import { Hono } from "hono";
import protobuf from "protobufjs/minimal.js";
import type { Take } from "../auth/ratelimit.ts";
import { ANONYMOUS, type AuthRuntime } from "../auth/runtime.ts";
import type { Logger } from "../log.ts";
import type { CollectorMetrics } from "../metrics.ts";
import { DecodeError } from "../otlp/model.ts";
import type { IngestResult } from "../pipeline/ingest.ts";
import { BackpressureError, PermanentWriteError, StorageUnavailableError } from "../pipeline/writer.ts";
import {
  BadEncodingError,
  BodyTooLargeError,
  decodedInJavaScript,
  readBody,
  UnsupportedEncodingError,
} from "./body.ts";
import {
  type BodyFormat,
  decodeAndSubmit,
  exportResponseJson,
  exportResponseProto,
  type OtlpSignal,
} from "./otlp-common.ts";

export interface OtlpHttpConfig {
  /** Largest accepted body in bytes, compressed or decompressed. */
  maxBodyBytes: number;
  /** Seconds a client is told to wait after 429/503. */
  retryAfterSeconds: number;
}

type Format = BodyFormat;
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

/** Export<Signal>ServiceResponse, with partial_success only when something was rejected. */
function exportResponse(signal: OtlpSignal, format: Format, result: IngestResult): Uint8Array | string {
  return format === "proto" ? exportResponseProto(result) : exportResponseJson(signal, result);
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

/** OTLP/HTTP receiver: `POST /v1/<signal>` for each signal. */
export function otlpHttpRoutes(deps: {
  signals: readonly OtlpSignal<any>[];
  metrics: CollectorMetrics;
  log: Logger;
  config: OtlpHttpConfig;
  /** Keys and rate limits; without it every request is anonymous and unlimited. */
  auth: AuthRuntime | null;
}): Hono<Env> {
  const { metrics, log, config } = deps;
  const app = new Hono<Env>();

  const retry = { "retry-after": String(config.retryAfterSeconds) };

  const route = <D>(signal: OtlpSignal<D>) =>
    app.post(`/v1/${signal.name}`, async (c) => {
      const format = formatOf(c.req.header("content-type"));
      const reply = (status: number, body: Uint8Array | string, f: Format, headers: Record<string, string> = {}) => {
        metrics.requests.inc({ signal: signal.name, status: String(status) });
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
            statusBody(format, 7, `a ${identity.role} key cannot write ${signal.items}; use an ingest key`),
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
        const contentEncoding = c.req.header("content-encoding");
        // Codings decoded in JavaScript are undone by a stage worker, with the same limit, when the signal has them.
        const encoded =
          signal.decodesEncoded === true && decodedInJavaScript(contentEncoding)
            ? { contentEncoding: contentEncoding ?? "", limit: config.maxBodyBytes }
            : undefined;
        const body = await readBody(source ?? null, encoded ? undefined : contentEncoding, config.maxBodyBytes);
        // After a storage failure the first request to arrive checks whether storage is back.
        if (!signal.writer.healthy) await signal.writer.probe();
        const outcome = await decodeAndSubmit(signal, deps.auth, body, format, identity, format, encoded);
        if ("refused" in outcome) {
          return reply(429, statusBody(format, 8, outcome.message), format, retryAfter(outcome.refused));
        }
        pending = outcome.pending;
      } catch (err) {
        if (err instanceof BodyTooLargeError) return reply(413, statusBody(format, 8, err.message), format);
        if (err instanceof UnsupportedEncodingError) return reply(415, statusBody(format, 3, err.message), format);
        if (err instanceof DecodeError || err instanceof BadEncodingError) {
          return reply(400, statusBody(format, 3, err.message), format);
        }
        if (err instanceof BackpressureError) return reply(429, statusBody(format, 8, err.message), format, retry);
        if (err instanceof StorageUnavailableError)
          return reply(503, statusBody(format, 14, err.message), format, retry);
        if (isAbort(err)) {
          metrics.requestsAborted.inc();
          log.debug("export aborted by the client before its body was read", { err: String(err) });
          return reply(499, statusBody(format, 1, "client closed the request"), format);
        }
        throw err;
      }
      try {
        return reply(200, exportResponse(signal, format, await pending), format);
      } catch (err) {
        if (err instanceof PermanentWriteError) {
          // Retrying the same items cannot succeed: a 400 tells the exporter to drop them.
          return reply(400, statusBody(format, 3, err.message), format);
        }
        // Queued after a stage worker processed it: the queue can be full by then.
        if (err instanceof BackpressureError) return reply(429, statusBody(format, 8, err.message), format, retry);
        log.debug("export refused: storage unavailable", { err });
        return reply(
          503,
          statusBody(format, 14, "storage unavailable; nothing from this request was stored, retry later"),
          format,
          retry,
        );
      }
    });
  for (const signal of deps.signals) route(signal);

  return app;
}
