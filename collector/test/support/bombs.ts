// Compressed bodies for hostile-input tests: a small input that decodes to far more than the limit,
// one per Content-Encoding, each valid in its format. Real Collector output is in ../fixtures.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateRawSync, deflateSync, gzipSync } from "node:zlib";
import snappy from "snappyjs";
import { maskedCrc32c } from "../../src/receiver/codecs.ts";

const fixtures = join(dirname(fileURLToPath(import.meta.url)), "../fixtures");

/** Content-Encodings as the Collector's otlphttp exporter sends them (fixtures captured from it). */
export const COLLECTOR_ENCODINGS = ["gzip", "zlib", "deflate", "zstd", "snappy", "x-snappy-framed", "lz4"] as const;

/** The Collector's otlphttp body for `encoding` ("none": uncompressed): one trace of 300 spans. */
export function collectorBody(encoding: (typeof COLLECTOR_ENCODINGS)[number] | "none"): Buffer {
  return readFileSync(join(fixtures, `otlp-${encoding}.bin`));
}
export const FIXTURE_TRACE_ID = "5b8efff798038103d269b633813fc60c";
export const FIXTURE_SPANS = 300;

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

/** zstd frame of RLE blocks (128 KiB of zeros each, 4 bytes on the wire): `mib` MiB. */
function zstdRleBomb(mib: number): Buffer {
  // Frame header: no checksum, no content size, window descriptor 2^(10+10) = 1 MiB.
  const parts = [u32(0xfd2fb528), Buffer.from([0x00, 0x50])];
  const blocks = mib * 8;
  for (let i = 0; i < blocks; i++) {
    const header = ((128 * 1024) << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0);
    parts.push(Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff, 0]));
  }
  return Buffer.concat(parts);
}

/** zstd frame header declaring a 2 GiB window: decoders that trust it allocate 2 GiB. */
export function zstdHugeWindow(): Buffer {
  return Buffer.concat([u32(0xfd2fb528), Buffer.from([0x00, 21 << 3]), Buffer.from([0x01, 0x00, 0x00])]);
}

/** One LZ4 block: a zero literal, then a match repeating it for `bytes` - 1 bytes. */
function lz4Block(bytes: number): Buffer {
  let rest = bytes - 1 - 4 - 15;
  const ext: number[] = [];
  while (rest >= 255) {
    ext.push(255);
    rest -= 255;
  }
  ext.push(rest);
  const block = Buffer.from([0x1f, 0x00, 0x01, 0x00, ...ext]);
  return Buffer.concat([u32(block.length), block]);
}

/** LZ4 frame (4 MiB blocks, independent) of `blocks` blocks of 4 MiB of zeros each. */
function lz4Bomb(blocks: number): Buffer {
  const header = Buffer.concat([u32(0x184d2204), Buffer.from([0x60, 0x70, 0x00])]);
  return Buffer.concat([header, ...Array.from({ length: blocks }, () => lz4Block(4 * 1024 * 1024)), u32(0)]);
}

/** Snappy framing format of `chunks` chunks of 64 KiB of zeros. */
function snappyFramedBomb(chunks: number): Buffer {
  const zeros = Buffer.alloc(65536);
  const block = Buffer.from(snappy.compress(zeros));
  const chunk = Buffer.concat([
    Buffer.from([0x00]),
    u32(block.length + 4).subarray(0, 3),
    u32(maskedCrc32c(zeros)),
    block,
  ]);
  const id = Buffer.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]);
  return Buffer.concat([id, ...Array.from({ length: chunks }, () => chunk)]);
}

/** For each encoding, a body that inflates to `mib` MiB of zeros (snappy, at most 21:1: 16 MiB). */
export function bombs(mib: number): Record<(typeof COLLECTOR_ENCODINGS)[number] | "raw deflate", Buffer> {
  const zeros = Buffer.alloc(mib * 1024 * 1024);
  return {
    gzip: gzipSync(zeros, { level: 9 }),
    zlib: deflateSync(zeros, { level: 9 }),
    deflate: deflateSync(zeros, { level: 9 }),
    "raw deflate": deflateRawSync(zeros, { level: 9 }),
    zstd: zstdRleBomb(mib),
    snappy: Buffer.from(snappy.compress(zeros.subarray(0, Math.min(mib, 16) * 1024 * 1024))),
    "x-snappy-framed": snappyFramedBomb(Math.min(mib, 16) * 16),
    lz4: lz4Bomb(Math.ceil(mib / 4)),
  };
}
