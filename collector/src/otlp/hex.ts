const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, "0"));

/** Lower-case hex of buf[start, end). */
export function toHex(buf: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += HEX[buf[i]];
  return s;
}

const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);
/** True for all-zero trace or span ids, which OTLP says are invalid. */
export function isZeroId(hex: string): boolean {
  return hex === ZERO_TRACE || hex === ZERO_SPAN;
}
