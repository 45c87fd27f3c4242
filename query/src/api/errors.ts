import type { ContentfulStatusCode } from "hono/utils/http-status";

/** Machine-readable error codes of the native API. */
export type ErrorCode =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "rate_limited"
  | "unsupported_media_type"
  | "not_found"
  | "payload_too_large"
  | "uri_too_long"
  | "method_not_allowed"
  | "query_too_large"
  | "overloaded"
  | "storage_unavailable"
  | "internal";

/** An error whose message is safe to show to the caller. Anything else becomes a bare 500. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const badRequest = (message: string) => new ApiError(400, "bad_request", message);
export const notFound = (message: string) => new ApiError(404, "not_found", message);

/**
 * A read stopped by one of its limits: by ClickHouse (time, memory, rows read, result size) or by
 * our engines (series, samples, candidate traces). The message says which limit and what to
 * narrow. Every API answers it 422, each in its own error shape.
 */
export class ReadLimitError extends Error {
  override name = "ReadLimitError";
}

/** Too many reads running and waiting: every API answers it 503 with `Retry-After`. */
export class ReadBusyError extends Error {
  override name = "ReadBusyError";
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** The caller went away while its read waited or ran; nobody reads the answer. */
export class ReadAbortedError extends Error {
  override name = "ReadAbortedError";
}

/** The one error body shape of every native API failure. */
export function errorBody(code: ErrorCode, message: string) {
  return { error: { code, message } };
}
