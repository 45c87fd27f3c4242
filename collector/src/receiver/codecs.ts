/// <reference path="./snappyjs.d.ts" />
import { promisify } from "node:util";
import { gunzip, inflate, inflateRaw } from "node:zlib";
import { Decompress as ZstdDecompress } from "fzstd";
import snappy from "snappyjs";

/** The decoded body would exceed the limit (HTTP 413). */
export class BodyTooLargeError extends Error {
  override name = "BodyTooLargeError";
}
/** The body is not valid in its Content-Encoding (HTTP 400). */
export class BadEncodingError extends Error {
  override name = "BadEncodingError";
}

/** Decodes a whole compressed body; never produces (nor allocates much) more than `limit` bytes. */
export type Decoder = (raw: Buffer, limit: number) => Promise<Buffer>;

const tooLarge = (limit: number) => new BodyTooLargeError(`decompressed request body exceeds ${limit} bytes`);

function zlibDecoder(fn: typeof gunzip, name: string): Decoder {
  const run = promisify(fn);
  return async (raw, limit) => {
    try {
      // maxOutputLength stops inflating at the limit, so a bomb costs at most `limit` bytes.
      return await run(raw, { maxOutputLength: limit });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError) {
        throw tooLarge(limit);
      }
      throw new BadEncodingError(`body is not valid ${name}: ${(err as Error).message}`);
    }
  };
}

const gzipDecoder = zlibDecoder(gunzip, "gzip");
const zlibWrapped = zlibDecoder(inflate, "zlib");
const rawDeflate = zlibDecoder(inflateRaw, "deflate");

/** Go's `deflate` is zlib-wrapped (RFC 1950); other clients send raw RFC 1951, tell them apart by the header. */
const deflateDecoder: Decoder = (raw, limit) => {
  // A zlib header: CM = 8 and the 16-bit header is a multiple of 31 (RFC 1950 §2.2).
  const wrapped = raw.length >= 2 && (raw[0] & 0x0f) === 8 && ((raw[0] << 8) | raw[1]) % 31 === 0;
  return wrapped ? zlibWrapped(raw, limit) : rawDeflate(raw, limit);
};

// ---- zstd (fzstd, pure JS, streaming) ----

// fzstd allocates each frame's declared window up front (up to 2 GiB), so frames are checked first.
const ZSTD_MIN_WINDOW_CAP = 8 * 1024 * 1024; // every decoder must accept 8 MiB windows (RFC 8878 §3.1.1.1.2)

/**
 * Walks the frames and blocks of a zstd body without decoding: rejects windows larger than
 * max(limit, 8 MiB), and bodies whose raw and RLE blocks alone (their sizes are exact) exceed
 * `limit`. Compressed blocks are bounded while streaming. Structural errors are left to the decoder.
 */
function checkZstdFrames(raw: Buffer, limit: number): void {
  let at = 0;
  let bound = 0;
  while (at + 8 <= raw.length) {
    const magic = raw.readUInt32LE(at);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      at += 8 + raw.readUInt32LE(at + 4); // skippable frame
      continue;
    }
    if (magic !== 0xfd2fb528) return;
    const flags = raw[at + 4];
    const singleSegment = (flags >> 5) & 1;
    const sizeFlag = flags >> 6;
    const dictBytes = [0, 1, 2, 4][flags & 3];
    let header = at + 5;
    let window = 0;
    if (!singleSegment) {
      const descriptor = raw[header++];
      const base = 2 ** (10 + (descriptor >> 3));
      window = base + (base / 8) * (descriptor & 7);
    }
    header += dictBytes;
    const sizeBytes = sizeFlag === 0 ? singleSegment : 1 << sizeFlag;
    if (singleSegment) {
      let size = 0;
      for (let i = sizeBytes - 1; i >= 0; i--) size = size * 256 + (raw[header + i] ?? 0);
      window = size + (sizeBytes === 2 ? 256 : 0);
    }
    if (window > Math.max(limit, ZSTD_MIN_WINDOW_CAP)) {
      throw new BodyTooLargeError(`zstd window of ${window} bytes exceeds the ${limit}-byte body limit`);
    }
    at = header + sizeBytes;
    for (;;) {
      if (at + 3 > raw.length) return;
      const block = raw[at] | (raw[at + 1] << 8) | (raw[at + 2] << 16);
      const type = (block >> 1) & 3;
      const size = block >> 3;
      if (type <= 1) bound += size;
      if (bound > limit) throw tooLarge(limit);
      at += 3 + (type === 1 ? 1 : size);
      if (block & 1) break;
    }
    if ((flags >> 2) & 1) at += 4; // content checksum
  }
}

const zstdDecoder: Decoder = async (raw, limit) => {
  checkZstdFrames(raw, limit);
  const out: Uint8Array[] = [];
  let size = 0;
  let overflow = false;
  const stream = new ZstdDecompress((chunk) => {
    size += chunk.length;
    if (size > limit) {
      overflow = true;
      throw tooLarge(limit);
    }
    out.push(chunk);
  });
  try {
    // Fed in slices so that a bomb stops within one slice of the limit.
    const SLICE = 64 * 1024;
    let at = 0;
    do {
      const end = Math.min(raw.length, at + SLICE);
      stream.push(raw.subarray(at, end), end === raw.length);
      at = end;
    } while (at < raw.length);
  } catch (err) {
    if (overflow || err instanceof BodyTooLargeError) throw tooLarge(limit);
    throw new BadEncodingError(`body is not valid zstd: ${(err as Error).message}`);
  }
  return Buffer.concat(out, size);
};

// ---- snappy (snappyjs block decoder; framing parsed here) ----

/** Reads the uncompressed-length varint that starts a snappy block. */
function snappyLength(raw: Buffer, start: number, end: number): number {
  let length = 0;
  for (let i = 0, at = start; i < 5 && at < end; i++, at++) {
    length += (raw[at] & 0x7f) * 2 ** (7 * i);
    if ((raw[at] & 0x80) === 0) return length;
  }
  throw new BadEncodingError("body is not valid snappy: bad length header");
}

function snappyBlock(raw: Buffer, limit: number, name: string): Buffer {
  // The declared length is checked before snappyjs allocates it.
  if (snappyLength(raw, 0, raw.length) > limit) throw tooLarge(limit);
  try {
    return Buffer.from(snappy.uncompress(raw, limit));
  } catch (err) {
    throw new BadEncodingError(`body is not valid ${name}: ${(err as Error).message}`);
  }
}

const CRC32C = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  return c;
});

/** CRC-32C, masked as the snappy framing format stores it. */
export function maskedCrc32c(data: Buffer): number {
  let crc = -1;
  for (let i = 0; i < data.length; i++) crc = CRC32C[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  crc = ~crc >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

const SNAPPY_STREAM_ID = Buffer.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]);
const SNAPPY_CHUNK_MAX = 65536;

/** The snappy framing format: a stream identifier, then chunks of at most 64 KiB each. */
function snappyFramed(raw: Buffer, limit: number): Buffer {
  const bad = (why: string) => new BadEncodingError(`body is not valid x-snappy-framed: ${why}`);
  if (!raw.subarray(0, SNAPPY_STREAM_ID.length).equals(SNAPPY_STREAM_ID)) throw bad("no stream identifier");
  const out: Buffer[] = [];
  let size = 0;
  let at = 0;
  while (at < raw.length) {
    if (at + 4 > raw.length) throw bad("truncated chunk header");
    const type = raw[at];
    const length = raw[at + 1] | (raw[at + 2] << 8) | (raw[at + 3] << 16);
    const start = at + 4;
    const end = start + length;
    if (end > raw.length) throw bad("truncated chunk");
    at = end;
    if (type === 0xff) {
      if (!raw.subarray(start - 4, end).equals(SNAPPY_STREAM_ID)) throw bad("bad stream identifier");
      continue;
    }
    if (type >= 0x80) continue; // padding and skippable chunks
    if (type > 0x01) throw bad(`reserved chunk type ${type}`);
    if (length < 4) throw bad("chunk without checksum");
    let data = raw.subarray(start + 4, end);
    if (type === 0x00) {
      if (snappyLength(data, 0, data.length) > SNAPPY_CHUNK_MAX) throw bad("chunk larger than 64 KiB");
      data = snappyBlock(data, SNAPPY_CHUNK_MAX, "x-snappy-framed");
    } else if (data.length > SNAPPY_CHUNK_MAX) {
      throw bad("chunk larger than 64 KiB");
    }
    if (maskedCrc32c(data) !== raw.readUInt32LE(start)) throw bad("checksum mismatch");
    size += data.length;
    if (size > limit) throw tooLarge(limit);
    out.push(data);
  }
  return Buffer.concat(out, size);
}

const isFramedSnappy = (raw: Buffer) => raw.subarray(0, SNAPPY_STREAM_ID.length).equals(SNAPPY_STREAM_ID);

// ---- lz4 frame format ----
// Written here: lz4js writes past its output silently and lz4-napi has no output limit, so neither
// bounds a bomb. This decoder checks every length against the input and the limit.

const LZ4_MAGIC = 0x184d2204;
const LZ4_BLOCK_MAX: Record<number, number> = { 4: 0x10000, 5: 0x40000, 6: 0x100000, 7: 0x400000 };

function lz4Frames(raw: Buffer, limit: number): Buffer {
  const bad = (why: string) => new BadEncodingError(`body is not valid lz4: ${why}`);
  const chunks: Buffer[] = [];
  let total = 0;
  let at = 0;
  while (at < raw.length) {
    if (at + 7 > raw.length) throw bad("truncated frame header");
    const magic = raw.readUInt32LE(at);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      at += 8 + raw.readUInt32LE(at + 4); // skippable frame
      continue;
    }
    if (magic !== LZ4_MAGIC) throw bad("not an LZ4 frame");
    const flags = raw[at + 4];
    if (flags >> 6 !== 1) throw bad("unsupported frame version");
    const blockMax = LZ4_BLOCK_MAX[(raw[at + 5] >> 4) & 7];
    if (!blockMax) throw bad("bad block size");
    const blockChecksum = (flags & 0x10) !== 0;
    at += 6 + (flags & 0x08 ? 8 : 0) + (flags & 0x01 ? 4 : 0) + 1;
    // Back-references may reach into earlier blocks of the frame, so a frame is decoded into one
    // buffer that grows as needed, never past the limit.
    let out = Buffer.allocUnsafe(Math.min(limit, blockMax));
    let size = 0;
    for (;;) {
      if (at + 4 > raw.length) throw bad("truncated block header");
      const word = raw.readUInt32LE(at);
      at += 4;
      if (word === 0) break;
      const length = word & 0x7fffffff;
      if (length > blockMax || at + length > raw.length) throw bad("bad block length");
      const need = Math.min(limit - total, size + blockMax);
      if (out.length < need) {
        const grown = Buffer.allocUnsafe(Math.min(limit - total, Math.max(need, out.length * 2)));
        out.copy(grown, 0, 0, size);
        out = grown;
      }
      // Output past `out` is past the limit, or a block larger than its declared maximum.
      const overflow = () => (out.length >= limit - total ? tooLarge(limit) : bad("block larger than its maximum"));
      if (word & 0x80000000) {
        if (size + length > out.length) throw overflow();
        raw.copy(out, size, at, at + length);
        size += length;
      } else {
        size = lz4Block(raw, at, at + length, out, size, overflow, bad);
      }
      at += length + (blockChecksum ? 4 : 0);
    }
    if (flags & 0x04) at += 4; // content checksum
    if (at > raw.length) throw bad("truncated frame");
    total += size;
    chunks.push(out.subarray(0, size));
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
}

/** Decodes one LZ4 block into out[from..]; returns the new end. Output past out.length is a bomb. */
function lz4Block(
  src: Buffer,
  at: number,
  end: number,
  out: Buffer,
  from: number,
  overflow: () => Error,
  bad: (why: string) => Error,
): number {
  let o = from;
  const readLength = (base: number): number => {
    let length = base;
    if (base === 15) {
      let byte = 255;
      while (byte === 255) {
        if (at >= end) throw bad("truncated length");
        byte = src[at++];
        length += byte;
      }
    }
    return length;
  };
  while (at < end) {
    const token = src[at++];
    const literals = readLength(token >> 4);
    if (at + literals > end) throw bad("literals past the block");
    if (o + literals > out.length) throw overflow();
    src.copy(out, o, at, at + literals);
    at += literals;
    o += literals;
    if (at === end) break; // the last sequence has literals only
    if (at + 2 > end) throw bad("truncated match offset");
    const offset = src[at] | (src[at + 1] << 8);
    at += 2;
    if (offset === 0 || offset > o) throw bad("match offset out of range");
    const length = readLength(token & 15) + 4;
    if (o + length > out.length) throw overflow();
    // Matches may overlap their own output, so copy byte by byte when they do.
    if (offset >= length) {
      out.copy(out, o, o - offset, o - offset + length);
      o += length;
    } else {
      for (let i = 0; i < length; i++, o++) out[o] = out[o - offset];
    }
  }
  return o;
}

/** Content-Encoding values (as the OpenTelemetry Collector sends them) and their decoders. */
export const DECODERS: Record<string, Decoder> = {
  gzip: gzipDecoder,
  "x-gzip": gzipDecoder,
  zlib: zlibWrapped,
  deflate: deflateDecoder,
  zstd: zstdDecoder,
  // The Collector sends block snappy as `snappy`; older Collectors sent the framed format.
  snappy: async (raw, limit) => (isFramedSnappy(raw) ? snappyFramed(raw, limit) : snappyBlock(raw, limit, "snappy")),
  "x-snappy-framed": async (raw, limit) => snappyFramed(raw, limit),
  lz4: async (raw, limit) => lz4Frames(raw, limit),
};
