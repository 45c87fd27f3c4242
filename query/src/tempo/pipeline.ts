import { fieldSql, fieldText, Params } from "./compile.ts";
import type { AggregateFn, CompareOp, Field, Stage } from "./traceql.ts";

/** An OTLP AnyValue as Tempo's JSON writes it (64-bit integers as strings). */
export type AnyValueJson = { stringValue: string } | { intValue: string } | { doubleValue: number };
export interface KeyValueJson {
  key: string;
  value: AnyValueJson;
}

/** One spanset of a trace after the pipeline: indexes into the trace's spans, and what the stages added. */
export interface EvaluatedSpanset {
  spans: number[];
  attributes: KeyValueJson[];
}

/** How a field's values read: durations and integers as numbers with their type, anything else as text. */
type ValueKind = "duration" | "integer" | "text";

/** The distinct fields the stages read, in order (each span carries one value per field). */
export function stageFields(stages: readonly Stage[]): Field[] {
  const out = new Map<string, Field>();
  for (const s of stages) {
    const f = s.type === "by" ? s.field : s.type === "aggregate" ? s.field : undefined;
    if (f && !out.has(fieldText(f))) out.set(fieldText(f), f);
  }
  return [...out.values()];
}

function kindOf(f: Field): ValueKind {
  if (f.kind === "intrinsic" && (f.name === "duration" || f.name === "traceDuration")) return "duration";
  return fieldSql(f, new Params()).integer ? "integer" : "text";
}

/** A Go `time.Duration` as Go prints it (`450ms`, `1.5s`, `1m30s`, `1h0m0s`), which is how Tempo shows durations. */
export function goDuration(ns: number): string {
  if (ns === 0) return "0s";
  const u = BigInt(Math.abs(Math.trunc(ns)));
  const frac = (v: bigint, digits: number) => {
    const d = 10n ** BigInt(digits);
    const f = (v % d).toString().padStart(digits, "0").replace(/0+$/, "");
    return f ? `${v / d}.${f}` : `${v / d}`;
  };
  let out: string;
  if (u < 1_000n) out = `${u}ns`;
  else if (u < 1_000_000n) out = `${frac(u, 3)}µs`;
  else if (u < 1_000_000_000n) out = `${frac(u, 6)}ms`;
  else {
    const h = u / 3_600_000_000_000n;
    const m = (u % 3_600_000_000_000n) / 60_000_000_000n;
    const s = u % 60_000_000_000n;
    out = `${h > 0n ? `${h}h` : ""}${h > 0n || m > 0n ? `${m}m` : ""}${frac(s, 9)}s`;
  }
  return ns < 0 ? `-${out}` : out;
}

function compare(op: CompareOp, a: number, b: number): boolean {
  switch (op) {
    case "=":
      return a === b;
    case "!=":
      return a !== b;
    case ">":
      return a > b;
    case ">=":
      return a >= b;
    case "<":
      return a < b;
    case "<=":
      return a <= b;
  }
}

/** An aggregate's value typed as Tempo types it: durations stay durations, integer sums stay integers, averages of integers are doubles. */
function aggregateValue(fn: AggregateFn, kind: ValueKind, value: number, integral: boolean): AnyValueJson {
  if (kind === "duration") return { stringValue: goDuration(fn === "avg" ? Math.trunc(value) : value) };
  if (fn !== "avg" && integral) return { intValue: String(value) };
  return { doubleValue: value };
}

const INTEGER_TEXT = /^-?\d+$/;

/**
 * Runs the reshaping stages over one trace, as Tempo evaluates them: the spanset filters' matching
 * spans form one spanset; `by(f)` splits every spanset per value of f (adding the attribute
 * `by(f)`); `coalesce()` merges all spansets into one (dropping what stages added); an aggregate
 * comparison keeps the spansets whose aggregate satisfies it (adding the attribute `count()`,
 * `avg(duration)`, …). Aggregates skip spans without a numeric value; a spanset with none is dropped.
 * `value(span, i)`: the span's value of `fields[i]` as text, null when absent.
 */
export function evaluateStages(
  stages: readonly Stage[],
  fields: readonly Field[],
  matched: number[],
  value: (span: number, field: number) => string | null,
): EvaluatedSpanset[] {
  const index = new Map(fields.map((f, i) => [fieldText(f), i]));
  const kinds = fields.map(kindOf);
  let sets: EvaluatedSpanset[] = matched.length ? [{ spans: matched, attributes: [] }] : [];
  for (const stage of stages) {
    if (stage.type === "coalesce") {
      const spans = sets.flatMap((s) => s.spans);
      sets = spans.length ? [{ spans, attributes: [] }] : [];
      continue;
    }
    if (stage.type === "by") {
      const fi = index.get(fieldText(stage.field)) as number;
      const key = `by(${fieldText(stage.field)})`;
      const out: EvaluatedSpanset[] = [];
      for (const set of sets) {
        const groups = new Map<string | null, EvaluatedSpanset>();
        for (const span of set.spans) {
          const v = value(span, fi);
          let g = groups.get(v);
          if (!g) {
            const attr: AnyValueJson =
              v === null
                ? { stringValue: "nil" }
                : kinds[fi] === "duration"
                  ? { stringValue: goDuration(Number(v)) }
                  : kinds[fi] === "integer"
                    ? { intValue: v }
                    : { stringValue: v };
            g = { spans: [], attributes: [...set.attributes, { key, value: attr }] };
            groups.set(v, g);
          }
          g.spans.push(span);
        }
        out.push(...groups.values());
      }
      sets = out;
      continue;
    }
    const out: EvaluatedSpanset[] = [];
    for (const set of sets) {
      let result: number | undefined;
      let kind: ValueKind = "integer";
      let integral = true;
      if (stage.fn === "count") result = set.spans.length;
      else {
        const fi = index.get(fieldText(stage.field as Field)) as number;
        kind = kinds[fi];
        const values: number[] = [];
        for (const span of set.spans) {
          const text = value(span, fi);
          const n = text === null || text.trim() === "" ? Number.NaN : Number(text);
          if (!Number.isFinite(n)) continue;
          if (!INTEGER_TEXT.test(text as string)) integral = false;
          values.push(n);
        }
        if (values.length === 0) continue;
        if (stage.fn === "min") result = values.reduce((a, b) => Math.min(a, b));
        else if (stage.fn === "max") result = values.reduce((a, b) => Math.max(a, b));
        else {
          const sum = values.reduce((a, b) => a + b, 0);
          result = stage.fn === "sum" ? sum : sum / values.length;
        }
        // Tempo divides a duration sum by the count as integers.
        if (stage.fn === "avg" && kind === "duration") result = Math.trunc(result);
      }
      if (!compare(stage.op, result, stage.value)) continue;
      const key = stage.field ? `${stage.fn}(${fieldText(stage.field)})` : `${stage.fn}()`;
      out.push({
        spans: set.spans,
        attributes: [...set.attributes, { key, value: aggregateValue(stage.fn, kind, result, integral) }],
      });
    }
    sets = out;
  }
  return sets;
}
