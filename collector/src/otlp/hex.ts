const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, "0"));

/** Lower-case hex of buf[start, end). */
export function toHex(buf: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += HEX[buf[i]];
  return s;
}

const ZEROS = /^0*$/;
/** True for ids made only of zeros, which OTLP says are invalid. */
export function isZeroId(hex: string): boolean {
  return ZEROS.test(hex);
}
