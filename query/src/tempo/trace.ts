import type { Storage } from "@cognive/collector";
import type { QueryScope } from "../api/scope.ts";
import { readTrace } from "../api/trace-detail.ts";
import type { TempoTrace } from "./otlp.ts";

/** One trace as Tempo answers it: the native API's read plus each span's instrumentation scope and trace state. */
export async function getTempoTrace(
  storage: Storage,
  scope: QueryScope,
  traceId: string,
): Promise<TempoTrace | undefined> {
  const read = await readTrace(storage, scope, traceId);
  return read && { ...read.trace, extras: read.extras };
}
