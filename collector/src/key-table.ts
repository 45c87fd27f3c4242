/**
 * 128-bit keys in typed arrays: what remembers many recent span keys without putting one string per
 * key on the garbage-collected heap (millions of string keys in a Map or Set made major GCs the
 * collector's largest cost, and a lookup of a fresh string hashes and compares it each time).
 */

/** One MurmurHash3 round: fold a 32-bit word into a running hash. */
export function mix(h: number, k: number): number {
  let x = Math.imul(k, 0xcc9e2d51);
  x = (x << 15) | (x >>> 17);
  x = Math.imul(x, 0x1b873593);
  let y = h ^ x;
  y = (y << 13) | (y >>> 19);
  return (Math.imul(y, 5) + 0xe6546b64) >>> 0;
}

/** MurmurHash3's finalizer: every input bit reaches every output bit. */
function fmix(h: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * Writes a 128-bit hash of `s` into `out[0..4)`: four independent 32-bit hashes of its UTF-16 code
 * units, two a word, and its length. Two different strings share a key with odds of about 2^-128.
 */
export function hashString128(s: string, out: Uint32Array): Uint32Array {
  let a = 0x9747b28c;
  let b = 0x5bd1e995;
  let c = 0x1b873593;
  let d = 0xcc9e2d51;
  const n = s.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const w = (s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16)) >>> 0;
    a = mix(a, w);
    b = mix(b, w ^ 0x85ebca6b);
    c = mix(c, w ^ 0xc2b2ae35);
    d = mix(d, w ^ 0x27d4eb2f);
  }
  if (i < n) {
    const w = s.charCodeAt(i) | 0x10000;
    a = mix(a, w);
    b = mix(b, w ^ 0x85ebca6b);
    c = mix(c, w ^ 0xc2b2ae35);
    d = mix(d, w ^ 0x27d4eb2f);
  }
  out[0] = fmix(a ^ n);
  out[1] = fmix(b ^ n);
  out[2] = fmix(c ^ n);
  out[3] = fmix(d ^ n);
  return out;
}

/**
 * Linear-probing hash table of 128-bit keys to non-zero 32-bit values, filled to at most half its
 * slots (`full` tells when a caller should start another). 0 means absent.
 */
export class KeyTable {
  private readonly keys: Uint32Array;
  private readonly values: Uint32Array;
  private readonly mask: number;
  private readonly limit: number;
  count = 0;
  /** The smallest value set since the last clear (0 when empty). */
  minId = 0;

  constructor(capacity: number) {
    let slots = 1024;
    while (slots < capacity) slots *= 2;
    this.keys = new Uint32Array(slots * 4);
    this.values = new Uint32Array(slots);
    this.mask = slots - 1;
    this.limit = Math.max(1, Math.floor(capacity / 2));
  }

  get full(): boolean {
    return this.count >= this.limit;
  }

  private slot(k: Uint32Array): number {
    const keys = this.keys;
    let i = mix(k[2], k[0] ^ k[1]) & this.mask;
    while (this.values[i] !== 0) {
      const o = i * 4;
      if (keys[o] === k[0] && keys[o + 1] === k[1] && keys[o + 2] === k[2] && keys[o + 3] === k[3]) return i;
      i = (i + 1) & this.mask;
    }
    return i;
  }

  get(k: Uint32Array): number {
    return this.values[this.slot(k)];
  }

  set(k: Uint32Array, id: number): void {
    const i = this.slot(k);
    if (this.values[i] === 0) {
      this.count++;
      this.keys.set(k, i * 4);
      if (this.minId === 0 || id < this.minId) this.minId = id;
    }
    this.values[i] = id;
  }

  clear(): void {
    this.values.fill(0);
    this.count = 0;
    this.minId = 0;
  }
}
