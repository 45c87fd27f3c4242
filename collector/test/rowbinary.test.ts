import { describe, expect, it } from "vitest";
import { RowWriter } from "../src/storage/rowbinary.ts";

/** What Node's own writers make of a value, to hold the encoder's byte-by-byte writes to. */
function reference(write: (b: Buffer) => void): Buffer {
  const b = Buffer.alloc(8);
  write(b);
  return b;
}

describe("RowWriter's 64-bit values", () => {
  const bigs = [0n, 1n, -1n, 255n, 256n, 2n ** 32n - 1n, 2n ** 32n, -(2n ** 32n), 2n ** 63n - 1n, -(2n ** 63n)];
  bigs.push(1_796_413_731_236_123_457n, -1_796_413_731_236_123_457n, 0x0102030405060708n);

  it("writes DateTime64 and UInt64 BigInts as Node's writers do, wrapping modulo 2^64", () => {
    for (const v of [...bigs, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n + 5n]) {
      const w = new RowWriter(4);
      w.u8(7); // unaligned, and growing the buffer
      w.i64n(v);
      w.u64n(v);
      const signed = reference((b) => b.writeBigInt64LE(BigInt.asIntN(64, v)));
      expect(w.bytes()).toEqual(Buffer.concat([Buffer.from([7]), signed, signed]));
    }
  });

  it("writes token counts and nano-dollars given as numbers as Node's writers do", () => {
    const counts = [0, 1, 255, 256, 65_535, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER];
    for (const v of counts) {
      const w = new RowWriter(1);
      w.u64(v);
      expect(w.bytes()).toEqual(reference((b) => b.writeBigUInt64LE(BigInt(v))));
    }
    for (const v of [...counts, ...counts.map((c) => -c), Number.MIN_SAFE_INTEGER, -(2 ** 32) - 1]) {
      const w = new RowWriter(1);
      w.i64(v);
      expect(w.bytes()).toEqual(reference((b) => b.writeBigInt64LE(BigInt(v))));
    }
  });
});
