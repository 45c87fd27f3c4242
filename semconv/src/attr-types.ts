import type { AttrValue } from "./types.ts";

/**
 * An attribute's OTLP type, numbered as the field of OTLP's `AnyValue` that carries it. Storage keeps
 * one code per non-string attribute beside the string maps, so 0 or a missing key reads as a string.
 */
export const ATTR_TYPE = { string: 1, bool: 2, int: 3, double: 4, array: 5, kvlist: 6, bytes: 7 } as const;

/** Type codes of one attribute set, by key; keys without one are strings. */
export type AttrTypes = Record<string, number>;

/** The type a decoded value has when its decoder did not say (a whole number reads as an int). */
export function inferAttrType(v: AttrValue): number {
  switch (typeof v) {
    case "string":
      return ATTR_TYPE.string;
    case "boolean":
      return ATTR_TYPE.bool;
    case "number":
      return Number.isInteger(v) ? ATTR_TYPE.int : ATTR_TYPE.double;
    default:
      return v === null ? ATTR_TYPE.string : Array.isArray(v) ? ATTR_TYPE.array : ATTR_TYPE.kvlist;
  }
}
