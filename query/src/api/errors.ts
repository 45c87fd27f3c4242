import type { ContentfulStatusCode } from "hono/utils/http-status";

/** Machine-readable error codes of the native API. */
export type ErrorCode =
  | "bad_request"
  | "not_found"
  | "payload_too_large"
  | "uri_too_long"
  | "method_not_allowed"
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

/** The one error body shape of every native API failure. */
export function errorBody(code: ErrorCode, message: string) {
  return { error: { code, message } };
}
