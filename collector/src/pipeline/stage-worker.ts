import { writeFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { decodeTracesJson } from "../otlp/decode-json.ts";
import { decodeTracesProto } from "../otlp/decode-proto.ts";
import { DecodeError } from "../otlp/model.ts";
import { BadEncodingError, BodyTooLargeError, decompress } from "../receiver/body.ts";
import { loadProcessors } from "./processors.ts";
import type { NormalizedSpan } from "./span.ts";
import { governedBuffers, SpanStage } from "./stage.ts";
import type { StageReply, StageRequest, StageWorkerSetup } from "./stage-pool.ts";

/**
 * A stage worker: decodes requests and runs the span stage on them, so the main thread keeps only
 * de-duplication, the writer and the answers. A request's spans stay here between its two steps.
 */
const setup = workerData as StageWorkerSetup;
// Named for `top -H` and per-thread CPU (Linux; a synchronous write runs on this thread itself).
try {
  writeFileSync("/proc/thread-self/comm", "cognive-stage");
} catch {
  /* not Linux */
}
const port = parentPort;
if (port === null) throw new Error("stage-worker.ts runs as a worker thread");
const building = loadProcessors(setup.processors).then(
  (processors) => new SpanStage({ processors, limits: setup.limits, format: setup.format, govern: setup.govern }),
);

/** Spans of requests normalized and not yet processed, with when they were normalized. */
const held = new Map<number, { spans: NormalizedSpan[]; at: number }>();

/** A request the main thread never came back for (its client went away) is dropped after this. */
const HOLD_MS = 120_000;
setInterval(() => {
  const old = Date.now() - HOLD_MS;
  for (const [id, h] of held) if (h.at < old) held.delete(id);
}, HOLD_MS / 4).unref();

function reply(r: StageReply, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(r, transfer);
}

/**
 * Messages not yet handled. A request's spans are held between its `normalize` and its `process`,
 * so every `process` and `discard` that has arrived goes before the next `normalize`: taken in
 * arrival order, the spans of a dozen requests would wait behind each other, outlive the young
 * generation and be copied and promoted by every scavenge (bench/RESULTS.md 2026-12-05).
 */
const normalizeQueue: StageRequest[] = [];
const answerQueue: StageRequest[] = [];
let stage: SpanStage | null = null;
let setupError: Error | null = null;
let scheduled = false;

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  // After the loop's poll phase, so messages that came meanwhile are in the queues.
  setImmediate(drain);
}

/** Every waiting `process` and `discard`, then one `normalize`; again after new messages came in. */
function drain(): void {
  scheduled = false;
  // Messages that arrive while the processors are built wait for them.
  if (stage === null && setupError === null) return;
  for (const m of answerQueue.splice(0)) dispatch(m);
  const next = normalizeQueue.shift();
  if (next !== undefined) dispatch(next);
  if (normalizeQueue.length + answerQueue.length > 0) schedule();
}

function dispatch(m: StageRequest): void {
  if (stage !== null) void handle(stage, m);
  else if (m.op !== "discard") reply({ id: m.id, ok: false, kind: "internal", message: (setupError as Error).message });
}

// A worker whose processors cannot be built stays up and refuses each request (replacing it would fail alike).
building.then(
  (s) => {
    stage = s;
    reply({ id: 0, ok: true, ready: true });
    schedule();
  },
  (err: Error) => {
    setupError = err;
    reply({ id: 0, ok: false, kind: "setup", message: err.message });
    schedule();
  },
);

port.on("message", (m: StageRequest) => {
  (m.op === "normalize" ? normalizeQueue : answerQueue).push(m);
  schedule();
});

async function handle(stage: SpanStage, m: StageRequest): Promise<void> {
  try {
    if (m.op === "normalize") {
      let body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
      if (m.encoded) body = await decompress(body, m.encoded.contentEncoding, m.encoded.limit);
      const decoded = m.format === "proto" ? decodeTracesProto(body) : decodeTracesJson(body.toString("utf8"));
      const { request, spans } = stage.normalize(decoded, m.nowNs);
      held.set(m.id, { spans, at: Date.now() });
      reply({ id: m.id, ok: true, request }, [
        request.keys.buffer as ArrayBuffer,
        request.repeats.buffer as ArrayBuffer,
      ]);
    } else if (m.op === "process") {
      const h = held.get(m.id);
      if (h === undefined) {
        reply({
          id: m.id,
          ok: false,
          kind: "lost",
          message: "the request was dropped before it was processed; retry it",
        });
        return;
      }
      held.delete(m.id);
      const p = stage.process(h.spans, m.verdicts, m.identity);
      // The encoder's buffer is reused: the rows leave in a buffer of their own, moved, not copied again.
      const rows = new Uint8Array(p.rows.byteLength);
      rows.set(p.rows);
      const transfer = [rows.buffer, p.stored.buffer as ArrayBuffer, ...governedBuffers(p.governed)];
      if (p.rowEnds !== null) transfer.push(p.rowEnds.buffer as ArrayBuffer);
      reply({ id: m.id, ok: true, processed: { ...p, rows } }, transfer);
    } else held.delete(m.id);
  } catch (err) {
    if (m.op === "normalize" || m.op === "process") {
      reply({
        id: m.id,
        ok: false,
        kind: failureKind(err),
        message: (err as Error).message,
      });
    }
  }
}

/** What the main thread makes of a failure again (`failure` in stage-pool.ts): the receivers' answers. */
function failureKind(err: unknown): "decode" | "encoding" | "too-large" | "internal" {
  if (err instanceof DecodeError) return "decode";
  if (err instanceof BadEncodingError) return "encoding";
  if (err instanceof BodyTooLargeError) return "too-large";
  return "internal";
}
