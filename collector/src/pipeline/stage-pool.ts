import { Worker } from "node:worker_threads";
import type { Logger } from "../log.ts";
import { DecodeError } from "../otlp/model.ts";
import { BadEncodingError, BodyTooLargeError } from "../receiver/codecs.ts";
import type { SpanLimits } from "./normalize.ts";
import type { ProcessorsModule } from "./processors.ts";
import type { IngestIdentity } from "./span.ts";
import type { NormalizedRequest, ProcessedRequest, SpanRowFormat } from "./stage.ts";
import { BackpressureError, StorageUnavailableError } from "./writer.ts";

/** What a stage worker is started with: plain data, since processors are built inside it. */
export interface StageWorkerSetup {
  limits: SpanLimits;
  format: SpanRowFormat;
  govern: boolean;
  /** The processors each worker builds for itself. */
  processors: ProcessorsModule;
}

/** A body's Content-Encoding for the worker to undo first, and the most bytes it may decode to. */
export interface StageEncoding {
  contentEncoding: string;
  limit: number;
}

export type StageRequest =
  | {
      op: "normalize";
      id: number;
      body: Uint8Array;
      format: "proto" | "json";
      nowNs: bigint;
      encoded?: StageEncoding;
    }
  | { op: "process"; id: number; verdicts: Uint8Array; identity: IngestIdentity }
  | { op: "discard"; id: number };

export type StageReply =
  | { id: number; ok: true; request: NormalizedRequest }
  | { id: number; ok: true; processed: ProcessedRequest }
  /**
   * `decode`: the body is not OTLP; `encoding`: its Content-Encoding is corrupt; `too-large`: it
   * decodes to more than its limit; `lost`: the worker no longer holds the request (retryable).
   */
  | { id: number; ok: false; kind: "decode" | "encoding" | "too-large" | "lost" | "internal"; message: string }
  /** Once, as id 0, when a worker has built its processors or could not. */
  | { id: 0; ok: true; ready: true }
  | { id: 0; ok: false; kind: "setup"; message: string };

/** A request normalized in a worker, whose spans wait there for `process` or `discard`. */
export interface StagedRequest {
  readonly request: NormalizedRequest;
  readonly slot: number;
  readonly id: number;
  /** The worker holding its spans: a replacement does not have them. */
  readonly worker: Worker;
}

interface Slot {
  worker: Worker;
  /** Settles when the worker has built its processors. */
  ready: Promise<void>;
  /** Answers awaited from this worker, by message id. */
  waiting: Map<number, { resolve(r: StageReply): void; reject(e: Error): void }>;
}

/**
 * The worker is the file beside this one: compiled JavaScript as installed, or TypeScript when the
 * source runs (tests, benchmarks), loaded through tsx's loader registered inside the worker.
 */
function startWorker(options: { workerData: StageWorkerSetup; name: string }): Worker {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./stage-worker.js", import.meta.url), options);
  const file = JSON.stringify(new URL("./stage-worker.ts", import.meta.url).href);
  const boot = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${file}); });`;
  return new Worker(boot, { ...options, eval: true, execArgv: ["--conditions=cognive-source"] });
}

function failure(r: Extract<StageReply, { ok: false }>): Error {
  if (r.kind === "setup") return new Error(r.message);
  if (r.kind === "decode") return new DecodeError(r.message);
  if (r.kind === "encoding") return new BadEncodingError(r.message);
  if (r.kind === "too-large") return new BodyTooLargeError(r.message);
  if (r.kind === "lost") return new StorageUnavailableError(r.message);
  return new Error(r.message);
}

/**
 * Stage workers: decode, normalize, process and encode requests off the main thread, so that thread
 * feeds storage and answers reads while the other cores do the per-span work. A request's bytes
 * are moved to a worker, not copied, and its encoded rows moved back. A worker that dies fails the
 * requests it held (their clients retry) and is replaced.
 */
export class StagePool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  /** Closing refuses new requests; closed also stops the workers (and does not replace them). */
  private closing = false;
  private closed = false;
  /** Requests normalized and not yet processed or discarded: closing waits for them. */
  private readonly held = new Set<number>();
  private drained: (() => void) | null = null;

  constructor(
    private readonly setup: StageWorkerSetup,
    count: number,
    private readonly log: Logger,
  ) {
    for (let i = 0; i < count; i++) this.slots.push(this.start(i));
  }

  /** The worker threads, as they are now (a replaced one is not in an earlier answer). */
  threads(): Worker[] {
    return this.slots.map((s) => s.worker);
  }

  private start(i: number): Slot {
    const worker = startWorker({ workerData: this.setup, name: `cognive-stage-${i}` });
    const started = { resolve: () => {}, reject: (_: Error) => {} };
    const ready = new Promise<void>((resolve, reject) => Object.assign(started, { resolve, reject }));
    const slot: Slot = { worker, ready, waiting: new Map() };
    worker.on("message", (r: StageReply) => {
      if (r.id === 0) {
        if (r.ok) return started.resolve();
        const err = failure(r);
        this.log.error("ingest: a stage worker could not build its span processors", { err });
        return started.reject(err);
      }
      const w = slot.waiting.get(r.id);
      if (w === undefined) return;
      slot.waiting.delete(r.id);
      w.resolve(r);
    });
    worker.on("error", (err) => this.log.error("ingest: a stage worker failed", { err }));
    worker.on("exit", (code) => {
      const lost = new StorageUnavailableError(`an ingest worker stopped (exit code ${code}); retry the request`);
      started.reject(lost);
      for (const w of slot.waiting.values()) w.reject(lost);
      slot.waiting.clear();
      if (!this.closed) {
        this.log.warn("ingest: stage worker replaced", { worker: i, code });
        this.slots[i] = this.start(i);
      }
    });
    // Workers never keep the process alive once ready (closing the pipeline stops them); until then
    // they do, or a start awaiting `started()` would find nothing left to run and exit silently.
    void ready.finally(() => worker.unref()).catch(() => {});
    return slot;
  }

  /** Resolves once every worker has built its processors; rejects with why one could not. */
  async started(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.ready));
  }

  private send(slot: number, m: StageRequest, transfer: ArrayBuffer[]): Promise<StageReply> {
    const s = this.slots[slot];
    return new Promise((resolve, reject) => {
      s.waiting.set(m.id, { resolve, reject });
      s.worker.postMessage(m, transfer);
    });
  }

  /**
   * Decodes and normalizes a request's body (OTLP protobuf or JSON) in the least busy worker, after
   * undoing its Content-Encoding there when `encoded` says it has one.
   */
  async normalize(
    body: Buffer,
    format: "proto" | "json",
    nowNs: bigint,
    encoded?: StageEncoding,
  ): Promise<StagedRequest> {
    if (this.closing) throw new BackpressureError("collector is shutting down");
    let slot = 0;
    for (let i = 1; i < this.slots.length; i++) {
      if (this.slots[i].waiting.size < this.slots[slot].waiting.size) slot = i;
    }
    // Moved when the body owns its whole memory; a view into a larger buffer is copied first.
    const own =
      body.byteOffset === 0 && body.buffer.byteLength === body.byteLength && body.buffer instanceof ArrayBuffer
        ? new Uint8Array(body.buffer)
        : new Uint8Array(body);
    const id = this.nextId++;
    this.held.add(id);
    try {
      const r = await this.send(slot, { op: "normalize", id, body: own, format, nowNs, encoded }, [
        own.buffer as ArrayBuffer,
      ]);
      if (!r.ok) throw failure(r);
      if (!("request" in r)) throw new Error("stage worker answered out of turn");
      return { request: r.request, slot, id, worker: this.slots[slot].worker };
    } catch (err) {
      this.release(id);
      throw err;
    }
  }

  /** The number of the latest request given to a worker (requests are numbered from 1 in order). */
  latest(): number {
    return this.nextId - 1;
  }

  /** The number of the oldest request normalized or being normalized and not yet processed or discarded. */
  oldest(): number {
    // A Set iterates in insertion order, and numbers are inserted ascending.
    for (const id of this.held) return id;
    return Number.POSITIVE_INFINITY;
  }

  private release(id: number): void {
    if (this.held.delete(id) && this.held.size === 0) this.drained?.();
  }

  /** Processes and encodes a normalized request's spans by their verdicts. */
  async process(job: StagedRequest, verdicts: Uint8Array, identity: IngestIdentity): Promise<ProcessedRequest> {
    try {
      if (this.slots[job.slot].worker !== job.worker) {
        throw new StorageUnavailableError("the ingest worker holding this request stopped; retry the request");
      }
      const r = await this.send(job.slot, { op: "process", id: job.id, verdicts, identity }, []);
      if (!r.ok) throw failure(r);
      if (!("processed" in r)) throw new Error("stage worker answered out of turn");
      return r.processed;
    } finally {
      this.release(job.id);
    }
  }

  /** Drops a normalized request that will not be processed (refused by a rate limit, say). */
  discard(job: StagedRequest): void {
    this.release(job.id);
    this.slots[job.slot]?.worker.postMessage({ op: "discard", id: job.id } satisfies StageRequest);
  }

  /** Refuses new requests at once; lets those already normalized finish (at most `graceMs`). */
  async drain(graceMs: number): Promise<void> {
    this.closing = true;
    if (this.held.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, graceMs);
      this.drained = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    // The last answers reach the writer in microtasks after they settle: let them run first.
    await new Promise((resolve) => setImmediate(resolve));
  }

  async close(): Promise<void> {
    this.closing = true;
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
