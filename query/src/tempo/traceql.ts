/**
 * A small TraceQL parser: spanset filters (`{ … }`) joined by `&&`/`||`, inside each filter
 * comparisons joined by `&&`/`||`/parentheses, pipeline stages (`| select(…)`, `| by(…)`,
 * `| coalesce()`, `| count() > 2`, `| avg(duration) > 1s`, …) and a final metrics stage
 * (`| rate() by (…)`, `| quantile_over_time(duration, .95)`, …).
 */

export type Op = "=" | "!=" | ">" | ">=" | "<" | "<=" | "=~" | "!~";

/** An attribute (`span.x`, `resource.x`, `event.x`, `.x`) or an intrinsic (`name`, `status`, …). */
export type Field =
  | { kind: "attr"; scope: "span" | "resource" | "event" | "any"; key: string }
  | { kind: "intrinsic"; name: Intrinsic };

export type Intrinsic =
  | "name"
  | "status"
  | "kind"
  | "duration"
  | "statusMessage"
  | "traceDuration"
  | "rootName"
  | "rootServiceName"
  | "spanID"
  | "parentID"
  | "traceID"
  | "eventName"
  | "instrumentationName"
  | "instrumentationVersion";

/** A literal: strings, numbers (durations already in nanoseconds), enum keywords and booleans. */
export type Value =
  | { type: "string"; value: string }
  | { type: "number"; value: number }
  | { type: "keyword"; value: string }
  | { type: "bool"; value: boolean };

export type Filter =
  | { type: "true" | "false" }
  | { type: "and" | "or"; left: Filter; right: Filter }
  | { type: "cmp"; field: Field; op: Op; value: Value }
  | { type: "exists" | "absent"; field: Field };

/**
 * Spanset expressions. `and`/`or` combine whole traces; the structural operators relate spans of one
 * trace and yield the right side's spans that have, on the left side, a parent (`>`, child), an
 * ancestor (`>>`, descendant), a child (`<`, parent), a descendant (`<<`, ancestor) or a sibling (`~`).
 */
export type Spansets =
  | { type: "spanset"; filter: Filter }
  | { type: "and" | "or"; left: Spansets; right: Spansets }
  | { type: StructuralOp; left: Spansets; right: Spansets };

export type StructuralOp = "child" | "descendant" | "parent" | "ancestor" | "sibling";

const STRUCTURAL: Record<string, StructuralOp> = {
  ">": "child",
  ">>": "descendant",
  "<": "parent",
  "<<": "ancestor",
  "~": "sibling",
};

export type MetricsFn =
  | "rate"
  | "count_over_time"
  | "min_over_time"
  | "max_over_time"
  | "avg_over_time"
  | "sum_over_time"
  | "quantile_over_time";

/** A TraceQL metrics stage: spans matching the filter, turned into time series. */
export interface MetricsStage {
  fn: MetricsFn;
  /** The measured field (all but rate and count_over_time). */
  field?: Field;
  /** quantile_over_time's quantiles, each in [0, 1]. */
  quantiles: number[];
  by: Field[];
}

export type AggregateFn = "count" | "avg" | "min" | "max" | "sum";
export type CompareOp = Exclude<Op, "=~" | "!~">;

/**
 * A pipeline stage that reshapes each trace's spansets: `by(f)` splits them per value of f,
 * `coalesce()` merges them back, an aggregate comparison (`count() > 2`, `avg(duration) > 1s`)
 * keeps those whose aggregate satisfies it. (`select(…)` only adds fields: see `TraceQuery.select`.)
 */
export type Stage =
  | { type: "by"; field: Field }
  | { type: "coalesce" }
  | { type: "aggregate"; fn: AggregateFn; field?: Field; op: CompareOp; value: number };

export interface TraceQuery {
  spansets: Spansets;
  select: Field[];
  /** The reshaping stages in order; absent when there are none. */
  stages?: Stage[];
  metrics?: MetricsStage;
}

const AGGREGATES = new Set<string>(["count", "avg", "min", "max", "sum"]);
/** Intrinsics an aggregate can measure: the others are not numbers. */
const NUMERIC_INTRINSICS = new Set<Intrinsic>(["duration", "traceDuration"]);

/** TraceQL that Tempo has and this server does not, named in the error instead of a bare syntax error. */
const UNSUPPORTED_STAGES: Record<string, string> = {
  histogram_over_time: "the metrics function histogram_over_time()",
  compare: "the metrics function compare()",
  topk: "topk()",
  bottomk: "bottomk()",
  with: "query hints (with(…))",
};
const UNSUPPORTED_SCOPES = ["link.", "link:", "instrumentation.", "parent.", "trace:", "span:", "event:"];

const METRICS_FNS = new Set<string>([
  "rate",
  "count_over_time",
  "min_over_time",
  "max_over_time",
  "avg_over_time",
  "sum_over_time",
  "quantile_over_time",
]);

export class TraceQLError extends Error {
  override name = "TraceQLError";
}

/**
 * A query refused for its size rather than its syntax: too long, nested too deeply, too many
 * conditions or spansets, or a number out of range. Unlike other parse errors (which search answers
 * with no traces, as Grafana sends partial queries while the user types) it is always a 400.
 */
export class TraceQLLimitError extends TraceQLError {
  override name = "TraceQLLimitError";
}

/** Longest query text accepted. */
export const MAX_QUERY_CHARS = 4096;
/** Deepest nesting of parentheses. */
export const MAX_DEPTH = 64;
/** Most conditions, and most spanset filters, in one query. */
export const MAX_TERMS = 100;

/** Where each parsed literal starts in its query (0-based), for messages about it. */
const LITERAL_POSITIONS = new WeakMap<Value, number>();

/** Where a literal of a parsed query starts (1-based), if it came from query text. */
export function literalPosition(v: Value): number | undefined {
  const pos = LITERAL_POSITIONS.get(v);
  return pos === undefined ? undefined : pos + 1;
}

/** Where parsed nodes (stages, fields, spanset operators) start in their query (0-based). */
const NODE_POSITIONS = new WeakMap<object, number>();

/** Where a node of a parsed query (a stage, a field, a spanset operator) starts (1-based), if known. */
export function positionOf(node: object): number | undefined {
  const pos = NODE_POSITIONS.get(node);
  return pos === undefined ? undefined : pos + 1;
}

/** " at position N" for a parsed node, or "" when it did not come from query text. */
export function atPosition(node: object): string {
  const pos = positionOf(node);
  return pos === undefined ? "" : ` at position ${pos}`;
}

/** A number literal as written, shortened for a message. */
const shown = (text: string) => (text.length > 40 ? `${text.slice(0, 40)}…` : text);

const INTRINSICS: Record<string, Intrinsic> = {
  name: "name",
  status: "status",
  kind: "kind",
  duration: "duration",
  statusMessage: "statusMessage",
  traceDuration: "traceDuration",
  rootName: "rootName",
  rootServiceName: "rootServiceName",
  "span:name": "name",
  "span:status": "status",
  "span:kind": "kind",
  "span:duration": "duration",
  "span:statusMessage": "statusMessage",
  "trace:duration": "traceDuration",
  "trace:rootName": "rootName",
  "trace:rootService": "rootServiceName",
  "trace:rootServiceName": "rootServiceName",
  "span:id": "spanID",
  "span:parentID": "parentID",
  "trace:id": "traceID",
  "event:name": "eventName",
  "instrumentation:name": "instrumentationName",
  "instrumentation:version": "instrumentationVersion",
};

const KEYWORDS = new Set([
  "error",
  "ok",
  "unset",
  "unspecified",
  "internal",
  "server",
  "client",
  "producer",
  "consumer",
]);

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A duration like `100ms`, `1.5s`, `1m30s` in nanoseconds; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * (DURATION_UNITS[m[2]] ?? 0);
    pos = re.lastIndex;
  }
  return pos > 0 && pos === text.length ? total : undefined;
}

/** `pos`: where the token starts in the query (0-based). */
type Token = (
  | { t: "punct"; v: string }
  | { t: "op"; v: Op }
  | { t: "str"; v: string }
  | { t: "num"; v: number }
  | { t: "ident"; v: string }
) & { pos: number };

const STAGES =
  "(select(), by(), coalesce(), count() / avg() / min() / max() / sum() compared with a number, or a metrics function such as rate())";

const PUNCT = [">>", "<<", "&&", "||", "{", "}", "(", ")", "|", ",", "!", "~"];
const OPS: Op[] = ["=~", "!~", "!=", ">=", "<=", "=", ">", "<"];

/** A quoted string starting at `i`: its text and the index after the closing quote. */
function readString(src: string, i: number): [string, number] {
  const quote = src[i];
  let s = "";
  let j = i + 1;
  for (; j < src.length && src[j] !== quote; j++) {
    if (src[j] === "\\" && quote === '"' && j + 1 < src.length) {
      j++;
      const e = src[j];
      s += e === "n" ? "\n" : e === "t" ? "\t" : e;
    } else s += src[j];
  }
  if (j >= src.length) throw new TraceQLError(`unterminated string starting at position ${i + 1}`);
  return [s, j + 1];
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i];
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === '"' || ch === "`") {
      const [str, next] = readString(src, i);
      out.push({ t: "str", v: str, pos: i });
      i = next;
      continue;
    }
    // `>>` and `<<` (spanset operators) before the comparison operators `>` and `<`.
    const structural = src.startsWith(">>", i) || src.startsWith("<<", i);
    const op = structural ? undefined : OPS.find((o) => src.startsWith(o, i));
    if (op) {
      out.push({ t: "op", v: op, pos: i });
      i += op.length;
      continue;
    }
    const p = PUNCT.find((o) => src.startsWith(o, i));
    if (p) {
      out.push({ t: "punct", v: p, pos: i });
      i += p.length;
      continue;
    }
    // A number (with an exponent, as Tempo reads `1e23`) or a duration (`1m30s`).
    const num = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+|(?:ns|us|µs|ms|s|m|h)(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))*)?/.exec(
      src.slice(i),
    );
    if (num) {
      const duration = /(?:ns|us|µs|ms|s|m|h)$/.test(num[0]);
      const d = duration ? parseDuration(num[0].replace(/^-/, "")) : Number(num[0]);
      if (d === undefined) throw new TraceQLError(`bad number ${num[0]} at position ${i + 1}`);
      if (!Number.isFinite(d)) {
        throw new TraceQLLimitError(`number ${shown(num[0])} at position ${i + 1} is out of range`);
      }
      out.push({ t: "num", v: num[0].startsWith("-") && duration ? -d : d, pos: i });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_.:][A-Za-z0-9_.:\-/]*/.exec(src.slice(i));
    if (id) {
      i += id[0].length;
      // A quoted attribute name: span."a b", resource.`x`, ."y"
      const start = i - id[0].length;
      if (id[0].endsWith(".") && (src[i] === '"' || src[i] === "`")) {
        const [key, next] = readString(src, i);
        out.push({ t: "ident", v: id[0] + key, pos: start });
        i = next;
      } else out.push({ t: "ident", v: id[0], pos: start });
      continue;
    }
    throw new TraceQLError(`unexpected character ${JSON.stringify(ch)} at position ${i + 1}`);
  }
  return out;
}

/** A field name as written in TraceQL or in a tag path; undefined when it is not one. */
export function parseField(name: string): Field | undefined {
  const intrinsic = INTRINSICS[name];
  if (intrinsic) return { kind: "intrinsic", name: intrinsic };
  if (name.startsWith("span.") && name.length > 5) return { kind: "attr", scope: "span", key: name.slice(5) };
  if (name.startsWith("resource.") && name.length > 9) return { kind: "attr", scope: "resource", key: name.slice(9) };
  if (name.startsWith("event.") && name.length > 6) return { kind: "attr", scope: "event", key: name.slice(6) };
  if (name.startsWith(".") && name.length > 1) return { kind: "attr", scope: "any", key: name.slice(1) };
  return undefined;
}

class Parser {
  private pos = 0;
  private depth = 0;
  private conditions = 0;
  private spansets = 0;
  constructor(private readonly toks: Token[]) {}

  /** Where parsing stopped, for messages: a position, or the end of the query. */
  where(): string {
    return this.pos >= this.toks.length ? "at the end of the query" : `at position ${this.at()}`;
  }

  /** 1-based position of the current token (or of the end), for messages. */
  private at(): number {
    const t = this.toks[this.pos] ?? this.toks[this.toks.length - 1];
    return (t?.pos ?? 0) + 1;
  }

  /** Runs `parse` inside one more level of parentheses, refusing more than MAX_DEPTH. */
  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_DEPTH) {
      throw new TraceQLLimitError(`parentheses nested deeper than ${MAX_DEPTH} levels at position ${this.at()}`);
    }
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  private peek(): Token | undefined {
    return this.toks[this.pos];
  }
  private isPunct(v: string): boolean {
    const t = this.peek();
    return t?.t === "punct" && t.v === v;
  }
  private expect(v: string): void {
    if (!this.isPunct(v)) throw new TraceQLError(`expected ${v}`);
    this.pos++;
  }

  query(): TraceQuery {
    const spansets = this.spansetOr();
    const select: Field[] = [];
    const stages: Stage[] = [];
    let metrics: MetricsStage | undefined;
    while (this.isPunct("|") && !metrics) {
      this.pos++;
      const t = this.peek();
      const start = t?.pos ?? 0;
      if (t?.t === "ident" && METRICS_FNS.has(t.v)) {
        this.pos++;
        metrics = this.metricsStage(t.v as MetricsFn);
        NODE_POSITIONS.set(metrics, start);
        continue;
      }
      if (t?.t !== "ident") throw new TraceQLError(`expected a pipeline stage ${STAGES}`);
      this.pos++;
      const stage = this.stage(t.v);
      if (stage) {
        NODE_POSITIONS.set(stage, start);
        stages.push(stage);
        continue;
      }
      this.expect("(");
      select.push(...this.fields("select()"));
      this.expect(")");
    }
    if (this.pos < this.toks.length)
      throw new TraceQLError(metrics ? "nothing may follow a metrics function" : "unexpected input");
    return {
      spansets,
      select,
      ...(stages.length ? { stages } : {}),
      ...(metrics ? { metrics } : {}),
    };
  }

  /** A stage after `|` named `name` (already read); undefined for select(), which the caller reads. */
  private stage(name: string): Stage | undefined {
    if (name === "select") return undefined;
    const unsupported = UNSUPPORTED_STAGES[name];
    if (unsupported) {
      this.pos--;
      throw new TraceQLError(`${unsupported} is not supported`);
    }
    if (name === "coalesce") {
      this.expect("(");
      this.expect(")");
      return { type: "coalesce" };
    }
    if (name === "by") {
      this.expect("(");
      const [field, ...more] = this.fields("by()");
      if (more.length) throw new TraceQLError(`by() takes one field${atPosition(more[0])}`);
      this.expect(")");
      return { type: "by", field };
    }
    if (!AGGREGATES.has(name)) {
      this.pos--;
      throw new TraceQLError(`unknown pipeline stage ${JSON.stringify(name)}: expected ${STAGES}`);
    }
    const fn = name as AggregateFn;
    this.expect("(");
    let field: Field | undefined;
    if (fn === "count") {
      if (!this.isPunct(")")) throw new TraceQLError("count() takes no argument");
    } else {
      const f = this.peek();
      field = f?.t === "ident" ? parseField(f.v) : undefined;
      if (!field) throw new TraceQLError(`expected a field in ${fn}()`);
      if (field.kind === "intrinsic" && !NUMERIC_INTRINSICS.has(field.name)) {
        throw new TraceQLError(`${fn}() needs a number, and ${f?.t === "ident" ? f.v : ""} is not one`);
      }
      NODE_POSITIONS.set(field, f?.pos ?? 0);
      this.pos++;
    }
    this.expect(")");
    const o = this.peek();
    if (o?.t !== "op") throw new TraceQLError(`expected a comparison after ${fn}(), e.g. ${fn}() > 2`);
    if (o.v === "=~" || o.v === "!~") throw new TraceQLError(`${fn}() compares with = != > >= < <=, not ${o.v}`);
    this.pos++;
    const v = this.peek();
    if (v?.t !== "num") throw new TraceQLError(`expected a number or a duration to compare ${fn}() with`);
    this.pos++;
    return { type: "aggregate", fn, ...(field ? { field } : {}), op: o.v, value: v.v };
  }

  /** One or more comma-separated fields. */
  private fields(where: string): Field[] {
    const out: Field[] = [];
    for (;;) {
      const f = this.peek();
      const field = f?.t === "ident" ? parseField(f.v) : undefined;
      if (!field) throw new TraceQLError(this.notAField(`expected a field in ${where}`));
      NODE_POSITIONS.set(field, f?.pos ?? 0);
      this.pos++;
      out.push(field);
      if (this.isPunct(",")) this.pos++;
      else return out;
    }
  }

  /** The message for a token that is not a field: names a scope Tempo has and this server does not. */
  private notAField(expected: string): string {
    const t = this.peek();
    const scope = t?.t === "ident" ? UNSUPPORTED_SCOPES.find((p) => t.v.startsWith(p)) : undefined;
    return scope && t?.t === "ident" ? `${t.v} is not supported (no ${scope.slice(0, -1)} fields here)` : expected;
  }

  private metricsStage(fn: MetricsFn): MetricsStage {
    this.expect("(");
    let field: Field | undefined;
    const quantiles: number[] = [];
    if (fn !== "rate" && fn !== "count_over_time") {
      const f = this.peek();
      field = f?.t === "ident" ? parseField(f.v) : undefined;
      if (!field) throw new TraceQLError(this.notAField(`expected a field in ${fn}()`));
      NODE_POSITIONS.set(field, f?.pos ?? 0);
      this.pos++;
      if (fn === "quantile_over_time") {
        while (this.isPunct(",")) {
          this.pos++;
          const q = this.quantile();
          quantiles.push(q);
        }
        if (quantiles.length === 0) throw new TraceQLError("quantile_over_time needs at least one quantile");
      }
    }
    this.expect(")");
    let by: Field[] = [];
    const t = this.peek();
    if (t?.t === "ident" && t.v === "by") {
      this.pos++;
      this.expect("(");
      by = this.fields("by()");
      this.expect(")");
    }
    return { fn, ...(field ? { field } : {}), quantiles, by };
  }

  /** A quantile: `0.95` or `.95` (which the tokenizer reads as a field name). */
  private quantile(): number {
    const t = this.toks[this.pos++];
    const q = t?.t === "num" ? t.v : t?.t === "ident" && /^\.\d+$/.test(t.v) ? Number(t.v) : Number.NaN;
    if (!(q >= 0 && q <= 1)) throw new TraceQLError("a quantile is a number from 0 to 1");
    return q;
  }

  private spansetOr(): Spansets {
    let left = this.spansetAnd();
    while (this.isPunct("||")) {
      const at = this.peek()?.pos ?? 0;
      this.pos++;
      left = { type: "or", left, right: this.spansetAnd() };
      NODE_POSITIONS.set(left, at);
    }
    return left;
  }
  private spansetAnd(): Spansets {
    let left = this.spansetStructural();
    while (this.isPunct("&&")) {
      const at = this.peek()?.pos ?? 0;
      this.pos++;
      left = { type: "and", left, right: this.spansetStructural() };
      NODE_POSITIONS.set(left, at);
    }
    return left;
  }
  /** Structural operators bind tighter than `&&` and `||`, left to right. */
  private spansetStructural(): Spansets {
    let left = this.spansetPrimary();
    for (;;) {
      const t = this.peek();
      const op =
        (t?.t === "op" && (t.v === ">" || t.v === "<")) ||
        (t?.t === "punct" && (t.v === ">>" || t.v === "<<" || t.v === "~"))
          ? STRUCTURAL[t.v]
          : undefined;
      if (!op) {
        if (t?.t === "punct" && t.v === "!")
          throw new TraceQLError("negated structural operators (!>, !>>, !<, !<<, !~) are not supported");
        return left;
      }
      this.pos++;
      left = { type: op, left, right: this.spansetPrimary() };
      NODE_POSITIONS.set(left, t?.pos ?? 0);
    }
  }
  private spansetPrimary(): Spansets {
    if (this.isPunct("(")) {
      return this.nested(() => {
        this.pos++;
        const inner = this.spansetOr();
        this.expect(")");
        return inner;
      });
    }
    if (++this.spansets > MAX_TERMS) {
      throw new TraceQLLimitError(`more than ${MAX_TERMS} spanset filters ({…}) at position ${this.at()}`);
    }
    this.expect("{");
    if (this.isPunct("}")) {
      this.pos++;
      return { type: "spanset", filter: { type: "true" } };
    }
    const filter = this.or();
    this.expect("}");
    return { type: "spanset", filter };
  }

  private or(): Filter {
    let left = this.and();
    while (this.isPunct("||")) {
      this.pos++;
      left = { type: "or", left, right: this.and() };
    }
    return left;
  }
  private and(): Filter {
    let left = this.primary();
    while (this.isPunct("&&")) {
      this.pos++;
      left = { type: "and", left, right: this.primary() };
    }
    return left;
  }
  private primary(): Filter {
    if (this.isPunct("(")) {
      return this.nested(() => {
        this.pos++;
        const inner = this.or();
        this.expect(")");
        return inner;
      });
    }
    if (++this.conditions > MAX_TERMS) {
      throw new TraceQLLimitError(`more than ${MAX_TERMS} conditions at position ${this.at()}`);
    }
    const t = this.toks[this.pos++];
    if (t?.t === "ident" && (t.v === "true" || t.v === "false") && !(this.peek()?.t === "op")) {
      return { type: t.v === "true" ? "true" : "false" };
    }
    const field = t?.t === "ident" ? parseField(t.v) : undefined;
    if (!field) {
      this.pos--;
      throw new TraceQLError(this.notAField("expected a field"));
    }
    NODE_POSITIONS.set(field, t?.pos ?? 0);
    const o = this.peek();
    if (o?.t !== "op") return { type: "exists", field };
    this.pos++;
    const next = this.peek();
    if (next?.t === "ident" && next.v === "nil") {
      // `x != nil`: the attribute is present; `x = nil`: it is absent.
      this.pos++;
      if (o.v === "!=") return { type: "exists", field };
      if (o.v === "=") return { type: "absent", field };
      throw new TraceQLError("nil compares with = or != only");
    }
    return { type: "cmp", field, op: o.v, value: this.value() };
  }
  private value(): Value {
    const t = this.peek();
    if (!t) throw new TraceQLError("expected a value");
    this.pos++;
    if (t.t === "str") return { type: "string", value: t.v };
    if (t.t === "num") {
      const v: Value = { type: "number", value: t.v };
      LITERAL_POSITIONS.set(v, t.pos);
      return v;
    }
    if (t.t === "ident" && (t.v === "true" || t.v === "false")) return { type: "bool", value: t.v === "true" };
    if (t.t === "ident" && KEYWORDS.has(t.v)) return { type: "keyword", value: t.v };
    this.pos--;
    throw new TraceQLError("expected a value");
  }
}

/** Parses a TraceQL query; throws `TraceQLError` for anything outside the supported subset. */
export function parseTraceQL(src: string): TraceQuery {
  if (src.length > MAX_QUERY_CHARS) throw new TraceQLLimitError(`query longer than ${MAX_QUERY_CHARS} characters`);
  const toks = tokenize(src);
  if (toks.length === 0) return { spansets: { type: "spanset", filter: { type: "true" } }, select: [] };
  const parser = new Parser(toks);
  try {
    return parser.query();
  } catch (err) {
    // Every parse error names where it happened: the token the parser stopped at.
    if (err instanceof TraceQLError && !/\bposition \d+|end of the query/.test(err.message)) {
      throw new (err.constructor as typeof TraceQLError)(`${err.message} ${parser.where()}`);
    }
    throw err;
  }
}
