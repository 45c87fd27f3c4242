import { BadEncodingError, BodyTooLargeError, DECODERS, type Decoder } from "./codecs.ts";

export { BadEncodingError, BodyTooLargeError };
export class UnsupportedEncodingError extends Error {
  override name = "UnsupportedEncodingError";
}

const SUPPORTED = `${Object.keys(DECODERS).join(", ")} or none`;
// "gzip, zstd" means gzip was applied first; more than two layers is not something a client sends.
const MAX_CODINGS = 2;

/** The decoders for a Content-Encoding header, in the order to apply them (the last coding first). */
function decodersFor(contentEncoding: string | undefined): Decoder[] {
  const codings = (contentEncoding ?? "")
    .split(",")
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== "" && c !== "identity" && c !== "none");
  if (codings.length > MAX_CODINGS) {
    throw new UnsupportedEncodingError(
      `at most ${MAX_CODINGS} Content-Encodings are accepted, got "${contentEncoding}"`,
    );
  }
  return codings.reverse().map((c) => {
    const decoder = Object.hasOwn(DECODERS, c) ? DECODERS[c] : undefined;
    if (!decoder) throw new UnsupportedEncodingError(`unsupported Content-Encoding "${c}" (use ${SUPPORTED})`);
    return decoder;
  });
}

/** Codings decoded in JavaScript on the calling thread (gzip and deflate run in libuv's pool). */
const JS_CODINGS = new Set(["zstd", "snappy", "x-snappy-framed", "lz4"]);

/**
 * Whether a Content-Encoding needs JavaScript to decode, so that a stage worker should decode it;
 * throws `UnsupportedEncodingError` for one that is not accepted, like `readBody`.
 */
export function decodedInJavaScript(contentEncoding: string | undefined): boolean {
  decodersFor(contentEncoding);
  return (contentEncoding ?? "").split(",").some((c) => JS_CODINGS.has(c.trim().toLowerCase()));
}

/** Undoes a body's Content-Encoding, stopping at `limit` bytes (`BodyTooLargeError`). */
export async function decompress(body: Buffer, contentEncoding: string | undefined, limit: number): Promise<Buffer> {
  for (const decode of decodersFor(contentEncoding)) body = await decode(body, limit);
  return body;
}

/**
 * Reads a request body of at most `limit` bytes, before and after decompression. Reading stops at
 * the limit, and every decoder stops at the limit too, so memory stays bounded by about `limit`
 * whatever the sender claims or sends.
 */
export async function readBody(
  source: AsyncIterable<Uint8Array> | null,
  contentEncoding: string | undefined,
  limit: number,
): Promise<Buffer> {
  const decoders = decodersFor(contentEncoding);
  const chunks: Buffer[] = [];
  let size = 0;
  if (source !== null) {
    for await (const chunk of source) {
      size += chunk.length;
      if (size > limit) throw new BodyTooLargeError(`request body exceeds ${limit} bytes`);
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    }
  }
  const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
  return decoders.length === 0 ? body : decompress(body, contentEncoding, limit);
}
