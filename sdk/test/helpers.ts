import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { type Cognive, type CogniveOptions, createCognive } from "../src/index.ts";

export interface Harness {
  cognive: Cognive;
  exporter: InMemorySpanExporter;
  /** Flushes and returns every span exported so far. */
  spans(): Promise<ReadableSpan[]>;
  /** Flushes and returns the only exported span with this name. */
  span(name: string): Promise<ReadableSpan>;
}

export function harness(opts: CogniveOptions = {}): Harness {
  const exporter = new InMemorySpanExporter();
  const cognive = createCognive({ serviceName: "test-svc", ...opts, exporter });
  async function spans() {
    await cognive.flush();
    return exporter.getFinishedSpans();
  }
  return {
    cognive,
    exporter,
    spans,
    async span(name) {
      const found = (await spans()).filter((s) => s.name === name);
      if (found.length !== 1) throw new Error(`expected one span "${name}", got ${found.length}`);
      return found[0];
    },
  };
}

export async function* stream<T>(chunks: T[]): AsyncGenerator<T> {
  for (const c of chunks) {
    await Promise.resolve();
    yield c;
  }
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const c of it) out.push(c);
  return out;
}

/** The GenAI attributes only (drops anything else). */
export function genAi(span: ReadableSpan): Record<string, unknown> {
  return Object.fromEntries(Object.entries(span.attributes).filter(([k]) => k.startsWith("gen_ai.")));
}
