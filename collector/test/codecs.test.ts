import { deflateRawSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { decodeTracesProto } from "../src/otlp/decode-proto.ts";
import { BadEncodingError, BodyTooLargeError, readBody, UnsupportedEncodingError } from "../src/receiver/body.ts";
import { bombs, COLLECTOR_ENCODINGS, collectorBody, FIXTURE_SPANS, zstdHugeWindow } from "./support/bombs.ts";

const MIB = 1024 * 1024;
const read = (body: Buffer, encoding: string | undefined, limit = MIB) =>
  readBody(
    (async function* () {
      yield body;
    })(),
    encoding,
    limit,
  );
const plain = collectorBody("none");

describe("readBody: every Content-Encoding the OpenTelemetry Collector sends", () => {
  it("the uncompressed capture holds the fixture's spans", () => {
    const spans = decodeTracesProto(plain).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    expect(spans).toHaveLength(FIXTURE_SPANS);
  });

  it.each(COLLECTOR_ENCODINGS)("decodes the Collector's %s body to the same bytes", async (encoding) => {
    const body = collectorBody(encoding);
    expect(body.equals(plain)).toBe(false);
    expect((await read(body, encoding)).equals(plain)).toBe(true);
  });

  it("decodes raw deflate (RFC 1951) too, and none/identity as is", async () => {
    expect((await read(deflateRawSync(plain), "deflate")).equals(plain)).toBe(true);
    expect((await read(plain, "none")).equals(plain)).toBe(true);
    expect((await read(plain, "identity")).equals(plain)).toBe(true);
    expect((await read(plain, undefined)).equals(plain)).toBe(true);
  });

  it("decodes stacked encodings last-applied first, and refuses more than two", async () => {
    const twice = gzipSync(collectorBody("zstd"));
    expect((await read(twice, "zstd, gzip")).equals(plain)).toBe(true);
    await expect(read(twice, "gzip, zstd")).rejects.toBeInstanceOf(BadEncodingError);
    await expect(read(twice, "gzip, gzip, gzip")).rejects.toBeInstanceOf(UnsupportedEncodingError);
  });

  it("refuses unknown encodings by name", async () => {
    await expect(read(plain, "br")).rejects.toThrow(/unsupported Content-Encoding "br"/);
    await expect(read(plain, "zstd, br")).rejects.toBeInstanceOf(UnsupportedEncodingError);
  });

  // Block snappy has no checksum and snappyjs does not notice a short input: the protobuf decoder does.
  it("answers a truncated snappy body as undecodable protobuf", async () => {
    const body = collectorBody("snappy");
    const decoded = await read(body.subarray(0, Math.floor(body.length / 2)), "snappy");
    expect(() => decodeTracesProto(decoded)).toThrow();
  });

  it.each(COLLECTOR_ENCODINGS.filter((e) => e !== "snappy"))(
    "answers a truncated %s body as a bad encoding",
    async (encoding) => {
      const body = collectorBody(encoding);
      await expect(read(body.subarray(0, Math.floor(body.length / 2)), encoding)).rejects.toBeInstanceOf(
        BadEncodingError,
      );
    },
  );

  it("answers a corrupted x-snappy-framed chunk by its checksum", async () => {
    const body = Buffer.from(collectorBody("x-snappy-framed"));
    body[body.length - 100] ^= 0xff;
    await expect(read(body, "x-snappy-framed")).rejects.toThrow(/x-snappy-framed/);
  });

  it("answers garbage in every encoding as a bad encoding", async () => {
    const garbage = Buffer.from("this is not compressed at all, not in any format".repeat(4));
    for (const encoding of COLLECTOR_ENCODINGS) {
      await expect(read(garbage, encoding), encoding).rejects.toBeInstanceOf(BadEncodingError);
    }
  });
});

describe("readBody: decompression bombs stop at the limit", () => {
  const all = bombs(64);

  it.each(Object.keys(all))("%s: 64 MiB of zeros against a 1 MiB limit", async (name) => {
    const bomb = all[name as keyof typeof all];
    expect(bomb.length).toBeLessThan(MIB);
    const encoding = name === "raw deflate" ? "deflate" : name;
    await expect(read(bomb, encoding)).rejects.toBeInstanceOf(BodyTooLargeError);
  });

  it("refuses a zstd window above the limit before allocating it", async () => {
    await expect(read(zstdHugeWindow(), "zstd")).rejects.toThrow(/zstd window of 2147483648 bytes/);
  });

  it.each(COLLECTOR_ENCODINGS)("stops the Collector's %s body at a limit below its size", async (encoding) => {
    await expect(read(collectorBody(encoding), encoding, 50_000)).rejects.toBeInstanceOf(BodyTooLargeError);
  });

  it("keeps memory bounded across all the bombs", async () => {
    const before = process.memoryUsage().rss;
    for (const [name, bomb] of Object.entries(all)) {
      await read(bomb, name === "raw deflate" ? "deflate" : name).catch(() => {});
    }
    // 8 bombs of 64 MiB each: decoding any one whole would add 64 MiB.
    expect(process.memoryUsage().rss - before).toBeLessThan(48 * MIB);
  });
});
