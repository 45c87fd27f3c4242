/**
 * ClickHouse error codes that mean the inserted rows themselves are unacceptable: retrying the same
 * rows fails the same way. Anything else (disk full, memory, a server away) may pass on a retry.
 */
const DATA_ERROR_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  53, // TYPE_MISMATCH
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA
  252, // TOO_MANY_PARTITIONS
  321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
  407, // DECIMAL_OVERFLOW
]);

/** The ClickHouse error code of a failure from either transport, or null. */
export function clickhouseCode(err: unknown): number | null {
  const own = (err as { code?: unknown } | null)?.code;
  if (typeof own === "string" && /^\d+$/.test(own)) return Number(own);
  if (typeof own === "number") return own;
  const m = /\bCode: (\d+)\b/.exec(err instanceof Error ? err.message : String(err));
  return m ? Number(m[1]) : null;
}

/** Whether storage refused an insert for its data, so that only a split can save the rest of it. */
export function isPermanentStorageError(err: unknown): boolean {
  const code = clickhouseCode(err);
  return code !== null && DATA_ERROR_CODES.has(code);
}
