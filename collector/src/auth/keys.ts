import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { crc32 } from "node:zlib";

/**
 * API keys: `cgv_` + 43 Base62 characters of randomness (256 bits) + a 6-character Base62 CRC32 of
 * everything before it, so a scanner (or we) can reject a look-alike without a lookup. Only the
 * SHA-256 of a key is ever stored; at ≥ 112 bits of entropy a plain hash cannot be brute-forced.
 */
export const KEY_PREFIX = "cgv_";
const BODY_CHARS = 43;
const CHECK_CHARS = 6;
export const KEY_LENGTH = KEY_PREFIX.length + BODY_CHARS + CHECK_CHARS;
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const KEY_SHAPE = new RegExp(`^${KEY_PREFIX}[0-9A-Za-z]{${BODY_CHARS + CHECK_CHARS}}$`);

export const ROLES = ["ingest", "viewer", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** What a key may touch: all teams, or these. */
export type Teams = "all" | readonly string[];

function base62(n: bigint, width: number): string {
  let out = "";
  for (let i = 0; i < width; i++) {
    out = BASE62[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out;
}

function checksum(s: string): string {
  return base62(BigInt(crc32(s)), CHECK_CHARS);
}

/** A new random key and the hash to store for it. */
export function generateKey(): { key: string; hash: string } {
  const body = base62(BigInt(`0x${randomBytes(32).toString("hex")}`), BODY_CHARS);
  const key = `${KEY_PREFIX}${body}${checksum(KEY_PREFIX + body)}`;
  return { key, hash: hashKey(key) };
}

/** Whether a string has a key's shape and checksum (no lookup needed to refuse a typo or a guess). */
export function isWellFormedKey(key: string): boolean {
  if (key.length !== KEY_LENGTH || !KEY_SHAPE.test(key)) return false;
  const cut = KEY_LENGTH - CHECK_CHARS;
  return checksum(key.slice(0, cut)) === key.slice(cut);
}

/** SHA-256 of a key, hex: the only form in which keys are kept. */
export function hashKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** Constant-time equality of two hex hashes. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** A short, non-secret id to show and to revoke by. */
export function newKeyId(): string {
  return `key_${base62(BigInt(`0x${randomBytes(8).toString("hex")}`), 11)}`;
}

/** The key in an `Authorization` header: `Bearer <key>`, or Basic with the key as the password. */
export function keyFromAuthorization(header: string | undefined | null): string | null {
  if (!header) return null;
  const space = header.indexOf(" ");
  if (space < 0) return null;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === "bearer") return value || null;
  if (scheme === "basic") {
    let decoded: string;
    try {
      decoded = Buffer.from(value, "base64").toString("utf8");
    } catch {
      return null;
    }
    const colon = decoded.indexOf(":");
    return colon >= 0 ? decoded.slice(colon + 1) || null : null;
  }
  return null;
}
