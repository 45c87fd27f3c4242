/**
 * CPU per span of each in-process ingest stage, on the ingest bench's request (448 spans): decode,
 * normalize, the default processors, the span-table row encoding (TSV), and the whole span stage
 * as a stage worker runs it (Native and RowBinary rows). No storage, no network: what
 * the JS thread spends before a row reaches the writer.
 *   npm run bench:pipeline-stages -- [--rounds 200]
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { Pricer } from "@cognive/semconv";
import { decodeTracesProto } from "../collector/src/otlp/decode-proto.ts";
import { defaultSpanLimits, normalizeTraces, runProcessors } from "../collector/src/pipeline/normalize.ts";
import { defaultProcessors } from "../collector/src/pipeline/processors.ts";
import type { NormalizedSpan } from "../collector/src/pipeline/span.ts";
import { SpanStage, VERDICT_NEW } from "../collector/src/pipeline/stage.ts";
import { encodeSpanRow } from "../collector/src/storage/span-table.ts";
import { buildTemplate } from "./workload.ts";

const { values: args } = parseArgs({ options: { rounds: { type: "string", default: "200" } } });
const ROUNDS = Number(args.rounds);
const template = buildTemplate(64);
const req = decodeTracesProto(template.payload);
const processors = defaultProcessors(new Pricer(), { agents: new Map() });
const request = { identity: { team: "acme" } };
const now = BigInt(Date.now()) * 1_000_000n;

/** CPU µs per span of `round` (one request's worth), after a warm-up. */
function cpuPerSpan(round: () => unknown): number {
  for (let i = 0; i < Math.max(10, ROUNDS / 10); i++) round();
  const c0 = process.cpuUsage();
  for (let i = 0; i < ROUNDS; i++) round();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / (ROUNDS * template.spans);
}

const normalizeWith = (visit: (s: NormalizedSpan) => void) => () => normalizeTraces(req, now, defaultSpanLimits, visit);
const stages: [string, () => unknown][] = [
  ["decode", () => decodeTracesProto(template.payload)],
  ["normalize", normalizeWith(() => {})],
  ["normalize + processors", normalizeWith((s) => runProcessors(processors, s, request))],
  ["normalize + processors + encode", normalizeWith((s) => runProcessors(processors, s, request) && encodeSpanRow(s))],
];
// The whole stage as a worker runs it (the default Native rows): decode, normalize and key, then
// process every span as new and encode the request's block.
for (const format of ["native", "rowbinary"] as const) {
  const stage = new SpanStage({ processors, limits: defaultSpanLimits, format, govern: true });
  stages.push([
    `stage, ${format} (decode … encode)`,
    () => {
      const { request: r, spans } = stage.normalize(decodeTracesProto(template.payload), now);
      return stage.process(spans, new Uint8Array(r.valid).fill(VERDICT_NEW), request.identity);
    },
  ]);
}
console.log(
  `${template.spans} spans/request, ${ROUNDS} rounds, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
for (const [name, round] of stages) console.log(`${name.padEnd(34)} ${cpuPerSpan(round).toFixed(2)} µs CPU/span`);
