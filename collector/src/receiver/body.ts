import { promisify } from "node:util";
import { gunzip, inflate } from "node:zlib";

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

export class BodyTooLargeError extends Error {
  override name = "BodyTooLargeError";
}
export class BadEncodingError extends Error {
  override name = "BadEncodingError";
}
export class UnsupportedEncodingError extends Error {
  override name = "UnsupportedEncodingError";
}

/**
 * Reads a request body of at most `limit` bytes, before and after decompression. Reading stops at
 * the limit, and zlib's `maxOutputLength` stops a decompression bomb at the limit too, so memory
 * stays bounded by `limit` whatever the sender claims or sends.
 */
export async function readBody(
  source: AsyncIterable<Uint8Array> | null,
  contentEncoding: string | undefined,
  limit: number,
): Promise<Buffer> {
  const encoding = (contentEncoding ?? "identity").trim().toLowerCase();
  if (encoding !== "identity" && encoding !== "gzip" && encoding !== "deflate" && encoding !== "") {
    throw new UnsupportedEncodingError(`unsupported Content-Encoding "${contentEncoding}" (use gzip or none)`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  if (source !== null) {
    for await (const chunk of source) {
      size += chunk.length;
      if (size > limit) throw new BodyTooLargeError(`request body exceeds ${limit} bytes`);
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    }
  }
  const raw = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
  if (encoding !== "gzip" && encoding !== "deflate") return raw;
  try {
    return await (encoding === "gzip" ? gunzipAsync : inflateAsync)(raw, { maxOutputLength: limit });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError) {
      throw new BodyTooLargeError(`decompressed request body exceeds ${limit} bytes`);
    }
    throw new BadEncodingError(`body is not valid ${encoding}: ${(err as Error).message}`);
  }
}
