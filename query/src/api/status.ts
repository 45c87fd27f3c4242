/** A span's status as the API reports it. Stored values come from OTLP names and exporters alike. */
export type StatusCode = "unset" | "ok" | "error";

export function statusCode(stored: string): StatusCode {
  switch (stored.toLowerCase()) {
    case "error":
    case "status_code_error":
      return "error";
    case "ok":
    case "status_code_ok":
      return "ok";
    default:
      return "unset";
  }
}
