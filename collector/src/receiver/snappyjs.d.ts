// snappyjs ships no types.
declare module "snappyjs" {
  /** Decodes a snappy block; throws if its declared length exceeds maxLength or the data is invalid. */
  export function uncompress(compressed: Uint8Array, maxLength?: number): Uint8Array;
  /** Encodes a snappy block (tests build bodies with it). */
  export function compress(uncompressed: Uint8Array): Uint8Array;
  const snappy: { uncompress: typeof uncompress; compress: typeof compress };
  export default snappy;
}
