/**
 * A small PromQL parser: the subset Grafana dashboards use (selectors, range vectors, offset,
 * functions, aggregations, binary operators with on/ignoring and bool). Anything else is a parse
 * error, reported as `bad_data`. Types are checked as the tree is built (function names, argument
 * counts and types, operand types, literal label names and regexes), so a query that cannot run is
 * refused before anything is read.
 */

import { RE2JS } from "re2js";

export class PromError extends Error {
  constructor(
    message: string,
    readonly errorType: "bad_data" | "execution" = "bad_data",
  ) {
    super(message);
    this.name = "PromError";
  }
}

export type MatchOp = "=" | "!=" | "=~" | "!~";
export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
  /** For regex matchers: the compiled, fully anchored pattern. */
  re?: RE2JS;
}

export interface SelectorNode {
  kind: "selector";
  matchers: Matcher[];
  /** Range in seconds for `x[5m]`; absent for an instant selector. */
  range?: number;
  /** Offset in seconds (may be negative). */
  offset: number;
}
export type Node =
  | { kind: "number"; value: number }
  | { kind: "string"; value: string }
  | SelectorNode
  | { kind: "call"; func: string; args: Node[] }
  | { kind: "agg"; op: string; param?: Node; grouping: string[]; without: boolean; expr: Node }
  | {
      kind: "binary";
      op: string;
      lhs: Node;
      rhs: Node;
      bool: boolean;
      matching?: { on: boolean; labels: string[] };
    }
  | { kind: "unary"; op: "-" | "+"; expr: Node };

type TokKind = "num" | "dur" | "str" | "ident" | "op" | "eof";
interface Token {
  kind: TokKind;
  text: string;
  pos: number;
  num?: number;
}

const UNIT_SECONDS: Record<string, number> = {
  ms: 0.001,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 604800,
  y: 31536000,
};
const DURATION = /^(\d+(ms|[smhdwy]))+$/;

/** Longest query text accepted. */
export const MAX_QUERY_CHARS = 4096;
/** Deepest nesting of parentheses, calls, aggregations and unary signs. */
export const MAX_DEPTH = 64;
/** Most binary operations, and most series selectors, in one query. */
export const MAX_TERMS = 100;
/** Longest duration (range, offset, step): what int64 nanoseconds hold, about 292 years. */
export const MAX_DURATION_SECONDS = 9_223_372_036;

/** Parses a Prometheus duration (`5m`, `1m0s`, `1h30m`, `500ms`) to seconds, or undefined. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+)(ms|[smhdwy])/g)) total += Number(m[1]) * UNIT_SECONDS[m[2]];
  return total;
}

const OPS = [
  "==",
  "!=",
  "=~",
  "!~",
  ">=",
  "<=",
  "(",
  ")",
  "{",
  "}",
  "[",
  "]",
  ",",
  "=",
  "+",
  "-",
  "*",
  "/",
  "%",
  "^",
  ">",
  "<",
  "@",
  ":",
];

function lex(input: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const ch = input[i];
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === "#") {
      while (i < input.length && input[i] !== "\n") i++;
      continue;
    }
    const start = i;
    if (/[0-9.]/.test(ch)) {
      const dur = /^(\d+(ms|[smhdwy]))+(?![A-Za-z0-9_])/.exec(input.slice(i));
      if (dur) {
        const seconds = parseDuration(dur[0]) as number;
        if (!(seconds <= MAX_DURATION_SECONDS)) {
          throw new PromError(
            `parse error at position ${start + 1}: duration ${dur[0]} is out of range (at most about 292 years)`,
          );
        }
        out.push({ kind: "dur", text: dur[0], pos: start, num: seconds });
        i += dur[0].length;
        continue;
      }
      const m = /^(0[xX][0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)/.exec(input.slice(i));
      if (!m) throw new PromError(`unexpected character '${ch}' at position ${i}`);
      const value = Number(m[0]);
      if (!Number.isFinite(value)) {
        throw new PromError(
          `parse error at position ${start + 1}: number ${m[0].length > 40 ? `${m[0].slice(0, 40)}…` : m[0]} is out of range (write Inf for infinity)`,
        );
      }
      out.push({ kind: "num", text: m[0], pos: start, num: value });
      i += m[0].length;
      continue;
    }
    if (/[A-Za-z_:]/.test(ch)) {
      const m = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(input.slice(i)) as RegExpExecArray;
      out.push({ kind: "ident", text: m[0], pos: start });
      i += m[0].length;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === "`") {
      i++;
      let s = "";
      while (true) {
        if (i >= input.length) throw new PromError(`unterminated quoted string at position ${start}`);
        const c = input[i];
        if (c === ch) {
          i++;
          break;
        }
        if (c === "\\" && ch !== "`") {
          const n = input[i + 1];
          const simple: Record<string, string> = {
            n: "\n",
            t: "\t",
            r: "\r",
            "\\": "\\",
            '"': '"',
            "'": "'",
            a: "\x07",
            b: "\b",
            f: "\f",
            v: "\v",
          };
          if (n !== undefined && n in simple) {
            s += simple[n];
            i += 2;
            continue;
          }
          const u = /^(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2}))/.exec(input.slice(i + 1));
          if (u) {
            s += String.fromCodePoint(Number.parseInt(u[1] ?? u[2], 16));
            i += 1 + u[0].length;
            continue;
          }
          throw new PromError(`unknown escape sequence at position ${i}`);
        }
        s += c;
        i++;
      }
      out.push({ kind: "str", text: s, pos: start });
      continue;
    }
    const op = OPS.find((o) => input.startsWith(o, i));
    if (!op) throw new PromError(`unexpected character '${ch}' at position ${i}`);
    out.push({ kind: "op", text: op, pos: start });
    i += op.length;
  }
  out.push({ kind: "eof", text: "", pos: input.length });
  return out;
}

export const AGGREGATIONS = new Set([
  "sum",
  "avg",
  "min",
  "max",
  "count",
  "group",
  "stddev",
  "stdvar",
  "topk",
  "bottomk",
  "quantile",
  "count_values",
]);
const PARAM_AGGS = new Set(["topk", "bottomk", "quantile", "count_values"]);
const COMPARISONS = new Set(["==", "!=", ">", "<", ">=", "<="]);
const PRECEDENCE: Record<string, number> = {
  or: 1,
  and: 2,
  unless: 2,
  "==": 3,
  "!=": 3,
  ">": 3,
  "<": 3,
  ">=": 3,
  "<=": 3,
  "+": 4,
  "-": 4,
  "*": 5,
  "/": 5,
  "%": 5,
  atan2: 5,
  "^": 6,
};

export const isComparison = (op: string) => COMPARISONS.has(op);
export const isSetOp = (op: string) => op === "and" || op === "or" || op === "unless";

/** What an expression evaluates to: "vector" is an instant vector, "matrix" a range vector. */
export type ValueType = "scalar" | "vector" | "matrix" | "string";
const TYPE_NAMES: Record<ValueType, string> = {
  scalar: "scalar",
  vector: "instant vector",
  matrix: "range vector",
  string: "string",
};

/**
 * A function's signature, as Prometheus declares it: argument types, and `variadic` optional
 * arguments of the last type (−1: any number; the last type may then also be absent).
 */
export interface FunctionDef {
  args: ValueType[];
  variadic?: number;
  returns: ValueType;
}

const vectorFn: FunctionDef = { args: ["vector"], returns: "vector" };
const rangeFn: FunctionDef = { args: ["matrix"], returns: "vector" };

/** Every function the engine evaluates. */
export const FUNCTIONS: Record<string, FunctionDef> = {
  abs: vectorFn,
  ceil: vectorFn,
  floor: vectorFn,
  sqrt: vectorFn,
  exp: vectorFn,
  ln: vectorFn,
  log2: vectorFn,
  log10: vectorFn,
  sgn: vectorFn,
  sort: vectorFn,
  sort_desc: vectorFn,
  timestamp: vectorFn,
  absent: vectorFn,
  clamp: { args: ["vector", "scalar", "scalar"], returns: "vector" },
  clamp_min: { args: ["vector", "scalar"], returns: "vector" },
  clamp_max: { args: ["vector", "scalar"], returns: "vector" },
  round: { args: ["vector", "scalar"], variadic: 1, returns: "vector" },
  vector: { args: ["scalar"], returns: "vector" },
  scalar: { args: ["vector"], returns: "scalar" },
  time: { args: [], returns: "scalar" },
  histogram_quantile: { args: ["scalar", "vector"], returns: "vector" },
  label_replace: { args: ["vector", "string", "string", "string", "string"], returns: "vector" },
  label_join: { args: ["vector", "string", "string", "string"], variadic: -1, returns: "vector" },
  rate: rangeFn,
  increase: rangeFn,
  irate: rangeFn,
  delta: rangeFn,
  idelta: rangeFn,
  changes: rangeFn,
  resets: rangeFn,
  absent_over_time: rangeFn,
  avg_over_time: rangeFn,
  min_over_time: rangeFn,
  max_over_time: rangeFn,
  sum_over_time: rangeFn,
  count_over_time: rangeFn,
  last_over_time: rangeFn,
  present_over_time: rangeFn,
  stddev_over_time: rangeFn,
  stdvar_over_time: rangeFn,
  quantile_over_time: { args: ["scalar", "matrix"], returns: "vector" },
};

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const types = new WeakMap<Node, ValueType>();

/** The type of a parsed expression. */
export function typeOf(n: Node): ValueType {
  const known = types.get(n);
  if (known) return known;
  let t: ValueType;
  switch (n.kind) {
    case "number":
      t = "scalar";
      break;
    case "string":
      t = "string";
      break;
    case "selector":
      t = n.range === undefined ? "vector" : "matrix";
      break;
    case "call":
      t = FUNCTIONS[n.func]?.returns ?? "vector";
      break;
    case "agg":
      t = "vector";
      break;
    case "binary":
      t = typeOf(n.lhs) === "scalar" && typeOf(n.rhs) === "scalar" ? "scalar" : "vector";
      break;
    case "unary":
      t = typeOf(n.expr);
      break;
  }
  types.set(n, t);
  return t;
}

/**
 * Compiles a PromQL regex as Prometheus does: RE2 syntax, anchored at both ends, `.` matching
 * newlines. RE2 runs in linear time, so no pattern can make a match backtrack for long.
 */
export function compileRegex(pattern: string, what: string): RE2JS {
  try {
    return RE2JS.compile(`^(?s:${pattern})$`);
  } catch (err) {
    const why = (err as { getDescription?: () => string }).getDescription?.() ?? "cannot be parsed";
    const shown = pattern.length > 80 ? `${pattern.slice(0, 80)}…` : pattern;
    throw new PromError(`invalid regular expression in ${what} ${JSON.stringify(shown)}: ${why}`);
  }
}

class Parser {
  private i = 0;
  private depth = 0;
  private binaries = 0;
  private selectors = 0;
  constructor(private readonly toks: Token[]) {}

  /** Runs `parse` one nesting level deeper, refusing queries nested deeper than MAX_DEPTH. */
  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_DEPTH) {
      throw new PromError(
        `parse error at position ${this.peek().pos + 1}: expression nested deeper than ${MAX_DEPTH} levels`,
      );
    }
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  private peek(): Token {
    return this.toks[this.i];
  }
  private next(): Token {
    return this.toks[this.i++];
  }
  private isOp(text: string): boolean {
    const t = this.peek();
    return t.kind === "op" && t.text === text;
  }
  private isIdent(text: string): boolean {
    const t = this.peek();
    return t.kind === "ident" && t.text === text;
  }
  private expect(text: string): void {
    const t = this.next();
    if (t.kind !== "op" || t.text !== text) throw this.unexpected(t, `'${text}'`);
  }
  private unexpected(t: Token, wanted: string): PromError {
    const what = t.kind === "eof" ? "end of input" : `'${t.text}'`;
    return new PromError(`parse error at position ${t.pos + 1}: unexpected ${what}, expected ${wanted}`);
  }

  parseAll(): Node {
    const n = this.expr(0);
    const t = this.peek();
    if (t.kind !== "eof") throw this.unexpected(t, "end of input");
    return n;
  }

  private binaryOp(): string | undefined {
    const t = this.peek();
    if (t.kind === "op" && t.text in PRECEDENCE) return t.text;
    if (t.kind === "ident" && (t.text === "and" || t.text === "or" || t.text === "unless" || t.text === "atan2"))
      return t.text;
    return undefined;
  }

  private expr(minPrec: number): Node {
    return this.nested(() => this.exprAt(minPrec));
  }

  private exprAt(minPrec: number): Node {
    let lhs = this.unary();
    while (true) {
      const op = this.binaryOp();
      if (!op) return lhs;
      const prec = PRECEDENCE[op];
      if (prec < minPrec) return lhs;
      const opToken = this.next();
      if (++this.binaries > MAX_TERMS) {
        throw new PromError(
          `parse error at position ${opToken.pos + 1}: more than ${MAX_TERMS} binary operations; split the query or aggregate first`,
        );
      }
      let bool = false;
      if (this.isIdent("bool")) {
        if (!isComparison(op)) throw new PromError("bool modifier can only be used on comparison operators");
        this.next();
        bool = true;
      }
      let matching: { on: boolean; labels: string[] } | undefined;
      if (this.isIdent("on") || this.isIdent("ignoring")) {
        const on = this.next().text === "on";
        matching = { on, labels: this.labelList() };
        if (this.isIdent("group_left") || this.isIdent("group_right")) {
          throw new PromError("group_left/group_right are not supported");
        }
      }
      // `^` is right-associative, everything else left-associative.
      const rhs = this.expr(op === "^" ? prec : prec + 1);
      checkBinary(op, lhs, rhs, bool, matching !== undefined, opToken.pos + 1);
      lhs = { kind: "binary", op, lhs, rhs, bool, matching };
    }
  }

  private unary(): Node {
    if (this.isOp("-") || this.isOp("+")) {
      const opToken = this.next();
      const op = opToken.text as "-" | "+";
      const expr = this.nested(() => this.unary());
      if (expr.kind === "number") return { kind: "number", value: op === "-" ? -expr.value : expr.value };
      const t = typeOf(expr);
      if (t !== "scalar" && t !== "vector") {
        throw new PromError(
          `parse error at position ${opToken.pos + 1}: unary expression only allowed on expressions of type scalar or instant vector, got ${TYPE_NAMES[t]}`,
        );
      }
      return { kind: "unary", op, expr };
    }
    return this.power();
  }

  private power(): Node {
    const base = this.postfix();
    if (this.isOp("^")) {
      const opToken = this.next();
      const rhs = this.unary();
      checkBinary("^", base, rhs, false, false, opToken.pos + 1);
      return { kind: "binary", op: "^", lhs: base, rhs, bool: false };
    }
    return base;
  }

  private postfix(): Node {
    let n = this.primary();
    while (true) {
      if (this.isOp("[")) {
        this.next();
        const d = this.next();
        if (d.kind !== "dur" || !d.num) throw this.unexpected(d, "a duration such as 5m");
        if (this.isOp(":")) throw new PromError("subqueries are not supported");
        this.expect("]");
        if (n.kind !== "selector" || n.range !== undefined || n.offset !== 0) {
          throw new PromError("ranges are only allowed for vector selectors");
        }
        n = { ...n, range: d.num };
        continue;
      }
      if (this.isIdent("offset")) {
        this.next();
        let sign = 1;
        if (this.isOp("-")) {
          this.next();
          sign = -1;
        }
        const d = this.next();
        if (d.kind !== "dur") throw this.unexpected(d, "a duration after offset");
        if (n.kind !== "selector") throw new PromError("offset modifier must be preceded by a vector selector");
        n = { ...n, offset: sign * (d.num ?? 0) };
        continue;
      }
      if (this.isOp("@")) throw new PromError("the @ modifier is not supported");
      return n;
    }
  }

  private primary(): Node {
    const t = this.peek();
    if (t.kind === "num") {
      this.next();
      return { kind: "number", value: t.num as number };
    }
    if (t.kind === "dur") {
      // A bare duration in a number position, e.g. `vector(5m)`? Prometheus 3 allows it; so do we.
      this.next();
      return { kind: "number", value: t.num as number };
    }
    if (t.kind === "str") {
      this.next();
      return { kind: "string", value: t.text };
    }
    if (t.kind === "op" && t.text === "(") {
      this.next();
      const e = this.expr(0);
      this.expect(")");
      return e;
    }
    if (t.kind === "op" && t.text === "{") return this.selector(undefined);
    if (t.kind === "ident") {
      this.next();
      const lower = t.text.toLowerCase();
      if (lower === "inf" || lower === "nan")
        return { kind: "number", value: lower === "nan" ? Number.NaN : Number.POSITIVE_INFINITY };
      if (AGGREGATIONS.has(t.text) && (this.isOp("(") || this.isIdent("by") || this.isIdent("without"))) {
        return this.aggregation(t.text);
      }
      if (this.isOp("(")) return this.call(t);
      return this.selector(t.text);
    }
    throw this.unexpected(t, "an expression");
  }

  private labelList(): string[] {
    this.expect("(");
    const labels: string[] = [];
    while (!this.isOp(")")) {
      const t = this.next();
      if (t.kind !== "ident") throw this.unexpected(t, "a label name");
      labels.push(t.text);
      if (this.isOp(",")) this.next();
      else if (!this.isOp(")")) throw this.unexpected(this.peek(), "',' or ')'");
    }
    this.next();
    return labels;
  }

  private aggregation(op: string): Node {
    let grouping: string[] = [];
    let without = false;
    let hasGrouping = false;
    if (this.isIdent("by") || this.isIdent("without")) {
      without = this.next().text === "without";
      grouping = this.labelList();
      hasGrouping = true;
    }
    this.expect("(");
    let param: Node | undefined;
    if (PARAM_AGGS.has(op)) {
      param = this.expr(0);
      this.expect(",");
    }
    const exprAt = this.peek().pos + 1;
    const expr = this.expr(0);
    if (this.isOp(",")) throw new PromError(`too many arguments for aggregation ${op}`);
    this.expect(")");
    expectType(expr, "vector", `aggregation expression`, exprAt);
    if (param) {
      expectType(param, op === "count_values" ? "string" : "scalar", "aggregation parameter", exprAt);
      if (op === "count_values" && param.kind === "string" && !LABEL_NAME.test(param.value)) {
        throw new PromError(`invalid label name ${JSON.stringify(param.value)} in count_values()`);
      }
    }
    if (!hasGrouping && (this.isIdent("by") || this.isIdent("without"))) {
      without = this.next().text === "without";
      grouping = this.labelList();
    }
    return { kind: "agg", op, param, grouping, without, expr };
  }

  private call(name: Token): Node {
    const func = name.text;
    const def = FUNCTIONS[func];
    if (!def) {
      throw new PromError(
        `parse error at position ${name.pos + 1}: unknown function with name ${JSON.stringify(func)}`,
      );
    }
    this.expect("(");
    const args: Node[] = [];
    while (!this.isOp(")")) {
      args.push(this.expr(0));
      if (this.isOp(",")) this.next();
      else if (!this.isOp(")")) throw this.unexpected(this.peek(), "',' or ')'");
    }
    this.next();
    checkCall(func, def, args, name.pos + 1);
    return { kind: "call", func, args };
  }

  private selector(name: string | undefined): SelectorNode {
    if (++this.selectors > MAX_TERMS) {
      const at = name === undefined ? this.peek().pos : this.toks[this.i - 1].pos;
      throw new PromError(`parse error at position ${at + 1}: more than ${MAX_TERMS} series selectors in one query`);
    }
    const matchers: Matcher[] = [];
    if (name !== undefined) matchers.push({ name: "__name__", op: "=", value: name });
    if (this.isOp("{")) {
      this.next();
      while (!this.isOp("}")) {
        const l = this.next();
        if (l.kind !== "ident" && l.kind !== "str") throw this.unexpected(l, "a label name");
        const op = this.next();
        if (op.kind !== "op" || !["=", "!=", "=~", "!~"].includes(op.text))
          throw this.unexpected(op, "a label matcher operator");
        const v = this.next();
        if (v.kind !== "str") throw this.unexpected(v, "a quoted label value");
        matchers.push(makeMatcher(l.text, op.text as MatchOp, v.text));
        if (this.isOp(",")) this.next();
        else if (!this.isOp("}")) throw this.unexpected(this.peek(), "',' or '}'");
      }
      this.next();
    }
    if (matchers.length === 0) throw new PromError("vector selector must contain at least one matcher");
    if (matchers.every((m) => matches(m, ""))) {
      throw new PromError("vector selector must contain at least one non-empty matcher");
    }
    return { kind: "selector", matchers, offset: 0 };
  }
}

export function makeMatcher(name: string, op: MatchOp, value: string): Matcher {
  if (op === "=~" || op === "!~") return { name, op, value, re: compileRegex(value, `the matcher on ${name}`) };
  return { name, op, value };
}

export function matches(m: Matcher, value: string): boolean {
  switch (m.op) {
    case "=":
      return value === m.value;
    case "!=":
      return value !== m.value;
    case "=~":
      return (m.re as RE2JS).matches(value);
    case "!~":
      return !(m.re as RE2JS).matches(value);
  }
}

/** Refuses an argument of the wrong type, as Prometheus words it. */
function expectType(n: Node, want: ValueType, context: string, pos: number): void {
  const got = typeOf(n);
  if (got !== want) {
    throw new PromError(
      `parse error at position ${pos}: expected type ${TYPE_NAMES[want]} in ${context}, got ${TYPE_NAMES[got]}`,
    );
  }
}

/** Argument count and types of a call, and its literal label names and regexes. */
function checkCall(func: string, def: FunctionDef, args: Node[], pos: number): void {
  const at = `parse error at position ${pos}`;
  const n = def.args.length;
  if (!def.variadic) {
    if (args.length !== n) {
      throw new PromError(`${at}: expected ${n} argument(s) in call to ${JSON.stringify(func)}, got ${args.length}`);
    }
  } else if (args.length < n - 1) {
    throw new PromError(
      `${at}: expected at least ${n - 1} argument(s) in call to ${JSON.stringify(func)}, got ${args.length}`,
    );
  } else if (def.variadic > 0 && args.length > n - 1 + def.variadic) {
    throw new PromError(
      `${at}: expected at most ${n - 1 + def.variadic} argument(s) in call to ${JSON.stringify(func)}, got ${args.length}`,
    );
  }
  args.forEach((a, i) => {
    expectType(a, def.args[Math.min(i, n - 1)], `call to function ${JSON.stringify(func)}`, pos);
  });
  // String arguments are always literals: their label names and regexes are checked now.
  const str = (i: number) => (args[i] as { value: string }).value;
  const labelName = (i: number, what: string) => {
    if (!LABEL_NAME.test(str(i))) {
      throw new PromError(`invalid ${what} label name in ${func}(): ${JSON.stringify(str(i))}`);
    }
  };
  if (func === "label_replace") {
    labelName(1, "destination");
    compileRegex(str(4), "label_replace()");
  } else if (func === "label_join") {
    labelName(1, "destination");
    for (let i = 3; i < args.length; i++) labelName(i, "source");
  }
}

/** Operand types of a binary operation, as Prometheus checks them. */
function checkBinary(op: string, lhs: Node, rhs: Node, bool: boolean, matching: boolean, pos: number): void {
  const lt = typeOf(lhs);
  const rt = typeOf(rhs);
  const at = `parse error at position ${pos}`;
  for (const t of [lt, rt]) {
    if (t !== "scalar" && t !== "vector") {
      throw new PromError(
        `${at}: binary expression must contain only scalar and instant vector types, got ${TYPE_NAMES[t]}`,
      );
    }
  }
  if (isComparison(op) && !bool && lt === "scalar" && rt === "scalar") {
    throw new PromError(`${at}: comparisons between scalars must use BOOL modifier`);
  }
  if (isSetOp(op) && (lt === "scalar" || rt === "scalar")) {
    throw new PromError(`${at}: set operator ${JSON.stringify(op)} not allowed in binary scalar expression`);
  }
  if (matching && (lt === "scalar" || rt === "scalar")) {
    throw new PromError(`${at}: vector matching only allowed between instant vectors`);
  }
}

export function parsePromQL(input: string): Node {
  if (input.trim() === "") throw new PromError("empty query");
  if (input.length > MAX_QUERY_CHARS) throw new PromError(`query longer than ${MAX_QUERY_CHARS} characters`);
  return new Parser(lex(input)).parseAll();
}

/** Parses a series selector for `match[]` (a bare selector, no functions or ranges). */
export function parseSelector(input: string): SelectorNode {
  const n = parsePromQL(input);
  if (n.kind !== "selector" || n.range !== undefined || n.offset !== 0) {
    throw new PromError(`invalid series selector ${JSON.stringify(input)}`);
  }
  return n;
}
