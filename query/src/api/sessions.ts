import { SPAN_TABLE, type Storage, TRACE_SUMMARY_TABLE } from "@cognive/collector";
import { addUsd, type GenAiMessage } from "@cognive/semconv";
import { badRequest } from "./errors.ts";
import { MAX_NS, type TimeRange } from "./params.ts";
import { type QueryScope, teamCondition } from "./scope.ts";
import { addArrayFilters, databaseOf, LIST_CUTOFF_TRACES_PER_RESULT, num, readNewestFirst, select } from "./sql.ts";
import { getTraces } from "./trace-detail.ts";

/**
 * Sessions (conversations): the traces that carry one conversation id (`gen_ai.conversation.id`
 * and the other conventions' session ids, normalized at ingest into `ConversationId`). A trace
 * belongs to a session when any of its spans carries the id; its figures (spans, tokens, cost of
 * model calls, errors) come whole from the per-trace summary, so a session adds up to its traces.
 */
export interface SessionFilter extends TimeRange {
  agent?: string;
  team?: string;
  user?: string;
  limit: number;
  cursor?: SessionCursor;
}

export interface SessionItem {
  conversationId: string;
  traces: number;
  spans: number;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  users: string[];
  agents: string[];
  firstSeen: string;
  lastSeen: string;
  errors: number;
}

export interface SessionList {
  sessions: SessionItem[];
  nextCursor: string | null;
}

/** Position after the last session of a page: newest activity first, then conversation id descending. */
export interface SessionCursor {
  lastSeenNs: bigint;
  conversationId: string;
}

const CURSOR_PREFIX = "s1";
const CURSOR_SHAPE = /^s1:(\d{1,19}):([0-9a-f]{1,512})$/;

export function encodeSessionCursor(c: SessionCursor): string {
  const id = Buffer.from(c.conversationId, "utf8").toString("hex");
  return Buffer.from(`${CURSOR_PREFIX}:${c.lastSeenNs}:${id}`, "utf8").toString("base64url");
}

/** Decodes a cursor from `encodeSessionCursor`; anything else (including a trace-list cursor) is a 400. */
export function decodeSessionCursor(raw: string): SessionCursor {
  const bad = () => badRequest("invalid query parameter 'cursor': not a cursor returned by this API");
  if (!/^[A-Za-z0-9_-]{1,1400}$/.test(raw)) throw bad();
  const m = CURSOR_SHAPE.exec(Buffer.from(raw, "base64url").toString("utf8"));
  if (!m || m[2].length % 2 !== 0) throw bad();
  const lastSeenNs = BigInt(m[1]);
  if (lastSeenNs > MAX_NS) throw bad();
  const conversationId = Buffer.from(m[2], "hex").toString("utf8");
  if (conversationId === "" || /\p{Cc}/u.test(conversationId)) throw bad();
  return { lastSeenNs, conversationId };
}

interface SessionRow {
  ConversationId: string;
  Traces: string;
  Spans: string;
  CostUsd: number;
  InputTokens: string;
  OutputTokens: string;
  Agents: string[];
  FirstSeen: string;
  LastSeen: string;
  Errors: string;
}

const SPANS_IN_RANGE =
  "Timestamp BETWEEN fromUnixTimestamp64Nano({fromNs:Int64}) AND fromUnixTimestamp64Nano({toNs:Int64})";

/**
 * Each (trace, conversation id) pair of the spans in [from, to] that carry one: a trace belongs to
 * every conversation one of its spans names. Team scope applies to the spans that name them.
 */
function pairsSql(db: string, teamSql: string): string {
  return `
    SELECT DISTINCT TraceId, ConversationId AS Conv
    FROM ${db}.${SPAN_TABLE}
    WHERE ${SPANS_IN_RANGE}
      AND ConversationId != ''
      AND (${teamSql})`;
}

/** The users named by the spans in [from, to] of the pairs' traces (a trace's users count for each of its sessions). */
function usersSql(db: string, teamSql: string, pairs: string): string {
  return `
    SELECT p.Conv AS Conv, u.UserId AS UserId
    FROM (
      SELECT DISTINCT TraceId, UserId
      FROM ${db}.${SPAN_TABLE}
      WHERE ${SPANS_IN_RANGE}
        AND UserId != ''
        AND (${teamSql})
    ) AS u
    INNER JOIN (${pairs}) AS p ON p.TraceId = u.TraceId`;
}

/**
 * The conversations of the pairs' traces that end at or after `{cutoffNs}`: every session active
 * since. Their spans start no earlier than the earliest start of those traces (over all of a trace's
 * summary rows, as an earlier insert may hold its first spans), so only spans since then are read.
 */
function candidatesSql(db: string, pairs: string): string {
  const ending = `SELECT DISTINCT TraceId FROM ${db}.${TRACE_SUMMARY_TABLE} WHERE End >= fromUnixTimestamp64Nano({cutoffNs:Int64})`;
  return `
    SELECT DISTINCT c.Conv
    FROM (
      ${pairs}
        AND Timestamp >= (SELECT min(Start) FROM ${db}.${TRACE_SUMMARY_TABLE} WHERE TraceId IN (${ending}))
    ) AS c
    INNER JOIN (${ending}) AS t ON t.TraceId = c.TraceId`;
}

/**
 * The summary is read through its join with the pairs: the join filters the summary's scan by the
 * pairs' trace ids, and with few of them skips its granules by key. (An IN set of the same ids as
 * well held a day of a busy store's traces twice, over the read limit, and its index analysis took
 * seconds.)
 */
const JOIN_FILTER_SETTINGS = "SETTINGS enable_join_runtime_filters = 1, enable_join_runtime_filters_index_analysis = 1";

/**
 * Sessions with activity in the range, most recent activity first, keyset-paginated.
 *
 * Per-trace figures add up, so each summary row (a trace has one per insert) is joined to its
 * trace's conversations and summed per conversation directly: no read groups by trace (a day of a
 * busy store holds over a million traces, more than a read may group with their arrays in memory).
 */
export async function listSessions(storage: Storage, scope: QueryScope, f: SessionFilter): Promise<SessionList> {
  const db = databaseOf(storage);
  const team = teamCondition(scope, { column: "TeamName" });
  const params: Record<string, unknown> = {
    ...team.params,
    fromNs: String(f.fromNs),
    toNs: String(f.toNs),
    limit: f.limit + 1,
  };
  let pairs = pairsSql(db, team.sql);
  if (f.user !== undefined) {
    // Only the sessions with a trace naming the user, each with all its pairs: few, so no cutoff below.
    pairs = `${pairs}
      AND ConversationId IN (
        SELECT Conv FROM (${pairs})
        WHERE TraceId IN (
          SELECT TraceId FROM ${db}.${SPAN_TABLE}
          WHERE ${SPANS_IN_RANGE} AND UserId = {user:String} AND (${team.sql})))`;
    params.user = f.user;
  }
  const having: string[] = [];
  addArrayFilters(having, params, {
    agent: { column: "Agents", value: f.agent },
    team: { column: "Teams", value: f.team },
  });
  if (f.cursor) {
    having.push("(LastSeenNs, ConversationId) < ({cursorNs:Int64}, {cursorId:String})");
    params.cursorNs = String(f.cursor.lastSeenNs);
    params.cursorId = f.cursor.conversationId;
  }
  // Only the pairs of candidate sessions when `candidates` is set (see below).
  const sql = (candidates: boolean) => `
    SELECT
      p.Conv AS ConversationId,
      uniqExact(s.TraceId) AS Traces,
      sum(s.SpanCount) AS Spans,
      sum(s.CostUsd) AS CostUsd,
      sum(s.InputTokens) AS InputTokens,
      sum(s.OutputTokens) AS OutputTokens,
      groupUniqArrayArray(s.Agents) AS Agents,
      groupUniqArrayArray(s.Teams) AS Teams,
      toUnixTimestamp64Nano(min(s.Start)) AS FirstSeenNs,
      toUnixTimestamp64Nano(max(s.End)) AS LastSeenNs,
      toString(FirstSeenNs) AS FirstSeen,
      toString(LastSeenNs) AS LastSeen,
      sum(s.ErrorCount) AS Errors
    FROM ${db}.${TRACE_SUMMARY_TABLE} AS s
    INNER JOIN (${candidates ? `${pairs} AND ConversationId IN (${candidatesSql(db, pairs)})` : pairs}) AS p
      ON p.TraceId = s.TraceId
    GROUP BY ConversationId
    HAVING ${[...having, ...(candidates ? ["LastSeenNs >= {cutoffNs:Int64}"] : [])].join(" AND ") || "1"}
    ORDER BY LastSeenNs DESC, ConversationId DESC
    LIMIT {limit:UInt32}
    ${JOIN_FILTER_SETTINGS}`;

  // The newest sessions first. A session's last activity is the latest end of its traces, so every
  // session active after a cutoff has a trace ending after it: only those sessions are summed (a day
  // of a busy store may hold hundreds of thousands, more than a read may sum in memory), and exactly
  // those whose last activity is after the cutoff are kept. Too few: a cutoff further back, then all.
  const upperNs = f.cursor && f.cursor.lastSeenNs < f.toNs ? f.cursor.lastSeenNs : f.toNs;
  const rows = await readNewestFirst(
    storage,
    scope,
    { fromNs: f.fromNs, upperNs },
    f.limit,
    f.user === undefined ? LIST_CUTOFF_TRACES_PER_RESULT : [],
    (cutoffNs) =>
      cutoffNs === null
        ? select<SessionRow>(storage, sql(false), params)
        : select<SessionRow>(storage, sql(true), { ...params, cutoffNs: String(cutoffNs) }),
  );
  const more = rows.length > f.limit;
  const page = more ? rows.slice(0, f.limit) : rows;
  const users = new Map<string, string[]>();
  if (page.length > 0) {
    const found = await select<{ Conv: string; Users: string[] }>(
      storage,
      `SELECT Conv, groupUniqArray(UserId) AS Users
       FROM (${usersSql(db, team.sql, `${pairs} AND ConversationId IN {page:Array(String)}`)})
       GROUP BY Conv
       ${JOIN_FILTER_SETTINGS}`,
      { ...params, page: page.map((r) => r.ConversationId) },
    );
    for (const u of found) users.set(u.Conv, u.Users);
  }
  const last = page[page.length - 1];
  return {
    sessions: page.map((r) => toSession(r, users.get(r.ConversationId) ?? [])),
    nextCursor:
      more && last
        ? encodeSessionCursor({ lastSeenNs: BigInt(last.LastSeen), conversationId: last.ConversationId })
        : null,
  };
}

const sorted = (a: string[]) => [...a].sort();

function toSession(r: SessionRow, users: string[]): SessionItem {
  return {
    conversationId: r.ConversationId,
    traces: num(r.Traces),
    spans: num(r.Spans),
    costUsd: r.CostUsd,
    inputTokens: num(r.InputTokens),
    outputTokens: num(r.OutputTokens),
    users: sorted(users),
    agents: sorted(r.Agents),
    firstSeen: r.FirstSeen,
    lastSeen: r.LastSeen,
    errors: num(r.Errors),
  };
}

/** Traces one session page shows at most (the earliest, in order). */
export const MAX_SESSION_TRACES = 200;

/** One turn of a conversation: a trace, what was asked and what was answered. */
export interface SessionTurn {
  traceId: string;
  rootName: string | null;
  startTimeUnixNano: string;
  durationNs: string;
  costUsd: number;
  /** Model calls in the trace that could not be priced (their cost is not in costUsd). */
  unpricedCalls: number;
  inputTokens: number;
  outputTokens: number;
  errors: number;
  users: string[];
  agents: string[];
  /** The first model call's input messages and the last model call's output messages. */
  input: GenAiMessage[];
  output: GenAiMessage[];
}

export interface SessionDetail {
  conversationId: string;
  turns: SessionTurn[];
  /** True when the session has more traces than MAX_SESSION_TRACES; the earliest are shown. */
  truncated: boolean;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  /** Cost per user: the cost of the turns whose spans name the user (a turn with two users counts for both). */
  users: { userId: string; traces: number; costUsd: number }[];
  firstSeen: string;
  lastSeen: string;
}

interface TurnRow {
  TraceId: string;
  StartNs: string;
}

/** The session's traces in start order, each read through the scope like the trace page. */
export async function getSession(
  storage: Storage,
  scope: QueryScope,
  conversationId: string,
): Promise<SessionDetail | undefined> {
  const db = databaseOf(storage);
  const team = teamCondition(scope, { column: "TeamName" });
  // The bloom filters on ConversationId and UserId (migration 16) skip granules without the id.
  const rows = await select<TurnRow>(
    storage,
    `
    SELECT TraceId, toString(toUnixTimestamp64Nano(min(Timestamp))) AS StartNs
    FROM ${db}.${SPAN_TABLE}
    WHERE ConversationId = {conversationId:String} AND (${team.sql})
    GROUP BY TraceId
    ORDER BY min(Timestamp), TraceId
    LIMIT {limit:UInt32}`,
    { ...team.params, conversationId, limit: MAX_SESSION_TRACES + 1 },
  );
  const users = new Map<string, string[]>();
  if (rows.length > 0) {
    const found = await select<{ TraceId: string; Users: string[] }>(
      storage,
      `
      SELECT TraceId, groupUniqArray(UserId) AS Users
      FROM ${db}.${SPAN_TABLE}
      WHERE TraceId IN {traceIds:Array(String)} AND UserId != '' AND (${team.sql})
      GROUP BY TraceId`,
      { ...team.params, traceIds: rows.map((r) => r.TraceId) },
    );
    for (const f of found) users.set(f.TraceId, f.Users);
  }
  if (rows.length === 0) return undefined;
  const truncated = rows.length > MAX_SESSION_TRACES;
  const turns: SessionTurn[] = [];
  const shown = rows.slice(0, MAX_SESSION_TRACES);
  const traces = await getTraces(
    storage,
    scope,
    shown.map((r) => r.TraceId),
  );
  for (const r of shown) {
    const trace = traces.get(r.TraceId);
    if (!trace) continue;
    const calls = trace.spans.filter((s) => s.genAi.usageRole === "model_call");
    const withInput = trace.spans.find((s) => (s.messages?.input.length ?? 0) > 0);
    const withOutput = trace.spans.filter((s) => (s.messages?.output.length ?? 0) > 0).pop();
    turns.push({
      traceId: trace.traceId,
      rootName: trace.summary.rootName,
      startTimeUnixNano: trace.summary.startTimeUnixNano,
      durationNs: trace.summary.durationNs,
      costUsd: trace.summary.costUsd,
      unpricedCalls: calls.filter((s) => !s.genAi.priced).length,
      inputTokens: trace.summary.inputTokens,
      outputTokens: trace.summary.outputTokens,
      errors: trace.summary.errorCount,
      users: sorted(users.get(r.TraceId) ?? []),
      agents: sorted([...new Set(trace.spans.map((s) => s.genAi.agentName).filter((a): a is string => !!a))]),
      input: withInput?.messages?.input ?? [],
      output: withOutput?.messages?.output ?? [],
    });
  }
  if (turns.length === 0) return undefined;
  const perUser = new Map<string, { userId: string; traces: number; costUsd: number }>();
  for (const t of turns) {
    for (const u of t.users) {
      const e = perUser.get(u) ?? { userId: u, traces: 0, costUsd: 0 };
      e.traces++;
      e.costUsd = addUsd(e.costUsd, t.costUsd);
      perUser.set(u, e);
    }
  }
  let lastEnd = 0n;
  for (const t of turns) {
    const end = BigInt(t.startTimeUnixNano) + BigInt(t.durationNs);
    if (end > lastEnd) lastEnd = end;
  }
  return {
    conversationId,
    turns,
    truncated,
    costUsd: turns.reduce((s, t) => s + t.costUsd, 0),
    inputTokens: turns.reduce((s, t) => s + t.inputTokens, 0),
    outputTokens: turns.reduce((s, t) => s + t.outputTokens, 0),
    users: [...perUser.values()].sort((a, b) => b.costUsd - a.costUsd || (a.userId < b.userId ? -1 : 1)),
    firstSeen: turns[0].startTimeUnixNano,
    lastSeen: String(lastEnd),
  };
}
