import { badRequest } from "./errors.ts";
import { MAX_NS } from "./params.ts";

/** Position after the last trace of a page, in the list's order (start time, then trace id, both descending). */
export interface TraceCursor {
  startNs: bigint;
  traceId: string;
}

const SHAPE = /^(\d{1,19}):([\x21-\x7e]{1,128})$/;

export function encodeCursor(c: TraceCursor): string {
  return Buffer.from(`${c.startNs}:${c.traceId}`, "utf8").toString("base64url");
}

/** Decodes a cursor from `encodeCursor`; anything else is a 400. */
export function decodeCursor(raw: string): TraceCursor {
  const bad = () => badRequest("invalid query parameter 'cursor': not a cursor returned by this API");
  if (!/^[A-Za-z0-9_-]{1,256}$/.test(raw)) throw bad();
  const m = SHAPE.exec(Buffer.from(raw, "base64url").toString("utf8"));
  if (!m) throw bad();
  const startNs = BigInt(m[1]);
  if (startNs > MAX_NS) throw bad();
  return { startNs, traceId: m[2] };
}
