const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);
/** True for all-zero trace or span ids, which OTLP says are invalid. */
export function isZeroId(hex: string): boolean {
  return hex === ZERO_TRACE || hex === ZERO_SPAN;
}
