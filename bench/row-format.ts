/**
 * Span rows as TSV, RowBinary and Native blocks, on the exporter's own path: the ingest bench's spans
 * (decoded, normalized, processed once), encoded by the span table's encoders (Native: one block a
 * request, as the stage makes them) and inserted through `Storage.insertTsv` / `insertRowBinary` /
 * `insertNative` into the real span table (every view) of embedded chDB.
 * CPU is the whole process's (chDB runs in it: its insert and merge threads count). The formats
 * alternate round by round, so a machine slowing down affects both alike.
 *   npm run bench:row-format -- [--requests 10] [--inserts 8] [--rounds 3]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { applyTableSettings, createStorage, migrate, SPAN_COLUMNS, SPAN_TABLE } from "@cognive/collector";
import { Pricer } from "@cognive/semconv";
import { decodeTracesProto } from "../collector/src/otlp/decode-proto.ts";
import { defaultSpanLimits, normalizeTraces, runProcessors } from "../collector/src/pipeline/normalize.ts";
import { defaultProcessors } from "../collector/src/pipeline/processors.ts";
import type { NormalizedSpan } from "../collector/src/pipeline/span.ts";
import { RowWriter } from "../collector/src/storage/rowbinary.ts";
import {
  encodeSpanBinary,
  encodeSpanNative,
  encodeSpanRow,
  SPAN_ROW_TYPES,
} from "../collector/src/storage/span-table.ts";
import { loadAverage, percentile } from "./lib.ts";
import { buildTemplate } from "./workload.ts";

const { values: args } = parseArgs({
  options: {
    requests: { type: "string", default: "10" },
    inserts: { type: "string", default: "8" },
    rounds: { type: "string", default: "3" },
  },
});
const REQUESTS = Number(args.requests);
const INSERTS = Number(args.inserts);
const ROUNDS = Number(args.rounds);

const template = buildTemplate(64);
const processors = defaultProcessors(new Pricer(), { agents: new Map() });
/** One batch: the bench request's spans, REQUESTS times (each request decoded and processed afresh). */
const requests: NormalizedSpan[][] = [];
for (let r = 0; r < REQUESTS; r++) {
  const request: NormalizedSpan[] = [];
  normalizeTraces(decodeTracesProto(template.payload), BigInt(Date.now()) * 1_000_000n, defaultSpanLimits, (s) => {
    if (runProcessors(processors, s, { identity: { team: "acme" } })) request.push(s);
  });
  requests.push(request);
}
const spans = requests.flat();

const formats = {
  TSV: {
    encode: () => {
      let out = "";
      for (const s of spans) out += encodeSpanRow(s);
      return Buffer.from(out, "utf8");
    },
    insert: (storage: ReturnType<typeof createStorage>, body: Buffer) =>
      storage.insertTsv(SPAN_TABLE, SPAN_COLUMNS, body),
  },
  RowBinary: {
    encode: () => {
      const w = new RowWriter();
      for (const s of spans) encodeSpanBinary(w, s);
      return Buffer.from(w.bytes());
    },
    insert: (storage: ReturnType<typeof createStorage>, body: Buffer) =>
      storage.insertRowBinary(SPAN_TABLE, SPAN_ROW_TYPES, body),
  },
  Native: {
    encode: () => {
      const w = new RowWriter();
      for (const request of requests) encodeSpanNative(w, request);
      return Buffer.from(w.bytes());
    },
    insert: (storage: ReturnType<typeof createStorage>, body: Buffer) =>
      storage.insertNative(SPAN_TABLE, SPAN_COLUMNS, body),
  },
};

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "cognive-row-format-"));
  const storage = createStorage({ dataDir: dir, database: "cognive" });
  await migrate(storage);
  // As the server leaves its tables at start.
  await applyTableSettings(storage);
  const results = new Map<string, { encodeUs: number[]; totalUs: number[]; ms: number[]; bytes: number }>();
  try {
    console.log(
      `row formats: ${spans.length} spans a batch, ${INSERTS} inserts × ${ROUNDS} rounds, load ${loadAverage()}`,
    );
    for (let round = 0; round <= ROUNDS; round++) {
      for (const [name, f] of Object.entries(formats)) {
        const r = results.get(name) ?? { encodeUs: [], totalUs: [], ms: [], bytes: 0 };
        results.set(name, r);
        // Round 0 warms up (JIT, first parts) and is not counted.
        const c0 = process.cpuUsage();
        let encodeUs = 0;
        for (let i = 0; i < INSERTS; i++) {
          const e0 = process.cpuUsage();
          const body = f.encode();
          const e = process.cpuUsage(e0);
          encodeUs += e.user + e.system;
          r.bytes = body.length;
          const t0 = performance.now();
          await f.insert(storage, body);
          if (round > 0) r.ms.push(performance.now() - t0);
        }
        const c = process.cpuUsage(c0);
        if (round > 0) {
          r.encodeUs.push(encodeUs / (INSERTS * spans.length));
          r.totalUs.push((c.user + c.system) / (INSERTS * spans.length));
        }
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log("format     B/row  encode µs CPU/span  encode+insert µs CPU/span (rounds)  p50 ms an insert");
    for (const [name, r] of results) {
      console.log(
        `${name.padEnd(10)} ${String(Math.round(r.bytes / spans.length)).padStart(5)}  ${mean(r.encodeUs).toFixed(1).padStart(18)}  ` +
          `${mean(r.totalUs).toFixed(1).padStart(9)} (${r.totalUs.map((x) => x.toFixed(1)).join(", ")})  ${percentile(
            [...r.ms].sort((a, b) => a - b),
            50,
          )
            .toFixed(0)
            .padStart(10)}`,
      );
    }
    console.log(`load average after: ${loadAverage()}`);
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
