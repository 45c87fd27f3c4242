import { describe, expect, it } from "vitest";
import { INJECTIONS, type SpanRow, sec, traceId, useFixture } from "./fixture.ts";

const BASE = 1_699_999_200;
const FROM = BASE - 3600;
const TO = BASE + 3600;
const range = `from=${FROM}&to=${TO}`;

const call = (t: string, span: string, parent: string, at: number, o: Partial<SpanRow>): SpanRow => ({
  TraceId: t,
  SpanId: span,
  ParentSpanId: parent,
  startNs: sec(at),
  Duration: 1_000_000,
  SpanName: "chat",
  GenAiOperation: "chat",
  GenAiUsageRole: "model_call",
  GenAiRequestModel: "gpt-4o",
  Priced: 1,
  ...o,
});

const t1 = traceId(1, "c");
const t2 = traceId(2, "c");
const t3 = traceId(3, "c");
const t4 = traceId(4, "c");
const t5 = traceId(5, "c");
const input = JSON.stringify([{ role: "user", parts: [{ type: "text", content: "What is my balance?" }] }]);
const output = JSON.stringify([{ role: "assistant", parts: [{ type: "text", content: "It is $12." }] }]);

const rows: SpanRow[] = [
  // Session c-1, turn 1: the root carries the conversation and user, and an agent total (an aggregate,
  // never added on top of its calls) of 0.003.
  {
    TraceId: t1,
    SpanId: "1000000000000001",
    startNs: sec(BASE + 10),
    Duration: 3_000_000_000,
    SpanName: "invoke_agent a1",
    AgentName: "a1",
    TeamName: "red",
    ConversationId: "c-1",
    UserId: "u1",
    GenAiUsageRole: "aggregate",
    InputTokens: 300,
    OutputTokens: 30,
    CostUsd: 0.003,
    Priced: 1,
  },
  call(t1, "1000000000000002", "1000000000000001", BASE + 11, {
    AgentName: "a1",
    TeamName: "red",
    InputTokens: 100,
    OutputTokens: 10,
    CostUsd: 0.001,
    SpanAttributes: { "gen_ai.input.messages": input },
  }),
  call(t1, "1000000000000003", "1000000000000001", BASE + 12, {
    AgentName: "a1",
    TeamName: "red",
    InputTokens: 200,
    OutputTokens: 20,
    CostUsd: 0.002,
    SpanAttributes: { "gen_ai.output.messages": output },
  }),
  // Turn 2: a second user on the child call, an error, and an unpriced call.
  {
    TraceId: t2,
    SpanId: "2000000000000001",
    startNs: sec(BASE + 100),
    Duration: 5_000_000_000,
    SpanName: "invoke_agent a1",
    AgentName: "a1",
    TeamName: "red",
    ConversationId: "c-1",
    UserId: "u1",
    StatusCode: "Error",
  },
  call(t2, "2000000000000002", "2000000000000001", BASE + 101, {
    AgentName: "a1",
    TeamName: "red",
    UserId: "u2",
    InputTokens: 300,
    OutputTokens: 30,
    CostUsd: 0.004,
  }),
  call(t2, "2000000000000003", "2000000000000001", BASE + 102, {
    AgentName: "a1",
    TeamName: "red",
    GenAiRequestModel: "mystery-model",
    Priced: 0,
    InputTokens: 5,
    OutputTokens: 1,
  }),
  // Session c-2: one call that carries the session id itself, another team and agent.
  call(t3, "3000000000000001", "", BASE + 50, {
    AgentName: "a2",
    TeamName: "blue",
    ConversationId: "c-2",
    UserId: "u3",
    InputTokens: 1000,
    OutputTokens: 100,
    CostUsd: 0.0105,
  }),
  // A user's trace without a conversation: in no session.
  call(t4, "4000000000000001", "", BASE + 60, { AgentName: "a1", TeamName: "red", UserId: "u1", CostUsd: 1 }),
  // A session ten days before the range.
  call(t5, "5000000000000001", "", BASE - 10 * 86_400, { AgentName: "a1", TeamName: "red", ConversationId: "c-3" }),
];

const fx = useFixture(rows);

describe("GET /api/v1/sessions", () => {
  it("groups traces by conversation and sums their figures exactly", async () => {
    const { status, body } = await fx().get(`/api/v1/sessions?${range}`);
    expect(status).toBe(200);
    expect(body.nextCursor).toBeNull();
    expect(body.sessions.map((s: { conversationId: string }) => s.conversationId)).toEqual(["c-1", "c-2"]);
    const [c1, c2] = body.sessions;
    expect(c1).toMatchObject({
      traces: 2,
      spans: 6,
      inputTokens: 605,
      outputTokens: 61,
      users: ["u1", "u2"],
      agents: ["a1"],
      errors: 1,
      firstSeen: String(sec(BASE + 10)),
      lastSeen: String(sec(BASE + 105)),
    });
    // 0.001 + 0.002 + 0.004: the aggregate and the unpriced call add nothing.
    expect(c1.costUsd).toBeCloseTo(0.007, 12);
    expect(c2).toMatchObject({
      traces: 1,
      spans: 1,
      inputTokens: 1000,
      outputTokens: 100,
      users: ["u3"],
      agents: ["a2"],
    });
    expect(c2.costUsd).toBeCloseTo(0.0105, 12);
  });

  it("filters by user, agent and team", async () => {
    const ids = async (q: string) =>
      (await fx().get(`/api/v1/sessions?${range}&${q}`)).body.sessions.map(
        (s: { conversationId: string }) => s.conversationId,
      );
    expect(await ids("user=u2")).toEqual(["c-1"]);
    expect(await ids("user=u3")).toEqual(["c-2"]);
    expect(await ids("agent=a2")).toEqual(["c-2"]);
    expect(await ids("team=red")).toEqual(["c-1"]);
    expect(await ids("user=nobody")).toEqual([]);
  });

  it("pages with a stable cursor", async () => {
    const first = await fx().get(`/api/v1/sessions?${range}&limit=1`);
    expect(first.body.sessions.map((s: { conversationId: string }) => s.conversationId)).toEqual(["c-1"]);
    expect(typeof first.body.nextCursor).toBe("string");
    const second = await fx().get(`/api/v1/sessions?${range}&limit=1&cursor=${first.body.nextCursor}`);
    expect(second.body.sessions.map((s: { conversationId: string }) => s.conversationId)).toEqual(["c-2"]);
    expect(second.body.nextCursor).toBeNull();
    // The same cursor gives the same page again.
    const again = await fx().get(`/api/v1/sessions?${range}&limit=1&cursor=${first.body.nextCursor}`);
    expect(again.body).toEqual(second.body);
  });

  it("finds an older session only when the range covers it", async () => {
    const { body } = await fx().get(`/api/v1/sessions?from=${BASE - 11 * 86_400}&to=${BASE - 9 * 86_400}`);
    expect(body.sessions.map((s: { conversationId: string }) => s.conversationId)).toEqual(["c-3"]);
  });

  it("rejects bad input with 400 and a message naming the parameter", async () => {
    const traceListCursor = Buffer.from(`123:${t1}`).toString("base64url");
    const forged = Buffer.from("s1:99999999999999999999:6331").toString("base64url");
    for (const [q, name] of [
      ["limit=0", "limit"],
      ["limit=1001", "limit"],
      ["limit=ten", "limit"],
      ["cursor=%%%", "cursor"],
      [`cursor=${traceListCursor}`, "cursor"],
      [`cursor=${forged}`, "cursor"],
      [`cursor=${"A".repeat(2000)}`, "cursor"],
      ["from=yesterday", "from"],
      [`from=${TO}&to=${FROM}`, "from"],
      ["user=", "user"],
      ["user=a%00b", "user"],
      ["colour=red", "colour"],
      ["user=a&user=b", "user"],
    ]) {
      const { status, body } = await fx().get(`/api/v1/sessions?${q}`);
      expect(status, q).toBe(400);
      expect(body.error.message, q).toContain(name);
    }
    const long = await fx().get(`/api/v1/sessions?user=${"x".repeat(600)}`);
    expect(long.status).toBe(400);
  });

  it("binds filter values: injection attempts match nothing and break nothing", async () => {
    for (const bad of INJECTIONS) {
      for (const p of ["user", "agent", "team"]) {
        const { status, body } = await fx().get(`/api/v1/sessions?${range}&${p}=${encodeURIComponent(bad)}`);
        expect(status, `${p}=${bad}`).toBe(200);
        expect(body.sessions).toEqual([]);
      }
      expect((await fx().get(`/api/v1/sessions/${encodeURIComponent(bad)}`)).status).toBe(404);
    }
    expect(await fx().count("otel_traces")).toBe(rows.length);
  });
});

describe("GET /api/v1/sessions/{id}", () => {
  it("returns the turns in order with their messages, cost per turn and per user", async () => {
    const { status, body } = await fx().get("/api/v1/sessions/c-1");
    expect(status).toBe(200);
    expect(body.conversationId).toBe("c-1");
    expect(body.truncated).toBe(false);
    expect(body.turns.map((t: { traceId: string }) => t.traceId)).toEqual([t1, t2]);
    const [turn1, turn2] = body.turns;
    expect(turn1.costUsd).toBeCloseTo(0.003, 12);
    expect(turn2.costUsd).toBeCloseTo(0.004, 12);
    expect(turn1).toMatchObject({ users: ["u1"], agents: ["a1"], unpricedCalls: 0, inputTokens: 300, errors: 0 });
    expect(turn2).toMatchObject({ users: ["u1", "u2"], unpricedCalls: 1, inputTokens: 305, errors: 1 });
    expect(turn1.input[0].parts[0].content).toBe("What is my balance?");
    expect(turn1.output[0].parts[0].content).toBe("It is $12.");
    expect(turn2.input).toEqual([]);
    expect(body.costUsd).toBeCloseTo(0.007, 12);
    expect(body.users.map((u: { userId: string }) => u.userId)).toEqual(["u1", "u2"]);
    expect(body.users[0].traces).toBe(2);
    expect(body.users[0].costUsd).toBeCloseTo(0.007, 12);
    expect(body.users[1].costUsd).toBeCloseTo(0.004, 12);
    expect(body.firstSeen).toBe(String(sec(BASE + 10)));
  });

  it("answers 404 for an unknown session and 400 for a malformed id", async () => {
    expect((await fx().get("/api/v1/sessions/nope")).status).toBe(404);
    expect((await fx().get(`/api/v1/sessions/${"x".repeat(600)}`)).status).toBe(400);
    expect((await fx().get("/api/v1/sessions/a%01b")).status).toBe(400);
    expect((await fx().get("/api/v1/sessions/c-1?extra=1")).status).toBe(400);
  });
});

describe("users in the trace list", () => {
  it("lists each trace's users and filters by user", async () => {
    const { body } = await fx().get(`/api/v1/traces?${range}`);
    const users = Object.fromEntries(
      body.traces.map((t: { traceId: string; users: string[] }) => [t.traceId, t.users]),
    );
    expect(users).toEqual({ [t1]: ["u1"], [t2]: ["u1", "u2"], [t3]: ["u3"], [t4]: ["u1"] });
    const only = async (u: string) =>
      (await fx().get(`/api/v1/traces?${range}&user=${encodeURIComponent(u)}`)).body.traces.map(
        (t: { traceId: string }) => t.traceId,
      );
    expect(await only("u2")).toEqual([t2]);
    expect((await only("u1")).sort()).toEqual([t1, t2, t4].sort());
    for (const bad of INJECTIONS) expect(await only(bad)).toEqual([]);
    expect((await fx().get("/api/v1/traces?user=")).status).toBe(400);
  });
});

// Last in the file: it adds spans to the shared store (five days after the others, out of their ranges).
describe("GET /api/v1/sessions: traces written in parts", () => {
  const parts = fx;
  const at = BASE + 5 * 86_400;
  const t6 = traceId(6, "c");
  const t7 = traceId(7, "c");

  it("counts a trace written in two inserts whole and once, in each conversation it names", async () => {
    // Two inserts: the trace's summary has two partial rows, one per insert.
    await parts().insert([
      call(t6, "6000000000000001", "", at, { ConversationId: "c-4", InputTokens: 10, CostUsd: 0.001 }),
      call(t7, "7000000000000001", "", at + 30, { ConversationId: "c-4", InputTokens: 1, CostUsd: 0.0005 }),
    ]);
    await parts().insert([
      call(t6, "6000000000000002", "6000000000000001", at + 1, {
        ConversationId: "c-5",
        UserId: "u9",
        InputTokens: 20,
        CostUsd: 0.002,
        StatusCode: "Error",
      }),
    ]);
    const { status, body } = await parts().get(`/api/v1/sessions?from=${at - 60}&to=${at + 60}`);
    expect(status).toBe(200);
    const byId = Object.fromEntries(body.sessions.map((s: { conversationId: string }) => [s.conversationId, s]));
    expect(Object.keys(byId).sort()).toEqual(["c-4", "c-5"]);
    expect(byId["c-4"]).toMatchObject({ traces: 2, spans: 3, inputTokens: 31, errors: 1, users: ["u9"] });
    expect(byId["c-4"].costUsd).toBeCloseTo(0.0035, 12);
    expect(byId["c-5"]).toMatchObject({ traces: 1, spans: 2, inputTokens: 30, errors: 1, users: ["u9"] });
    expect(byId["c-5"].costUsd).toBeCloseTo(0.003, 12);
    // c-4's last activity is t7 (30 s after t6): newest first.
    expect(body.sessions.map((s: { conversationId: string }) => s.conversationId)).toEqual(["c-4", "c-5"]);
    const forUser = await parts().get(`/api/v1/sessions?from=${at - 60}&to=${at + 60}&user=u9`);
    expect(forUser.body.sessions.map((s: { conversationId: string }) => s.conversationId)).toEqual(["c-4", "c-5"]);
  });

  it("pages the newest sessions from a cutoff exactly: a long trace and a session's older traces included", async () => {
    const from = BASE + 10 * 86_400;
    const span = (t: string, at: number, conv: string, durationS = 1): SpanRow => ({
      TraceId: t,
      SpanId: `${t.slice(-15)}1`,
      startNs: sec(at),
      Duration: durationS * 1e9,
      SpanName: "invoke_agent",
      ConversationId: conv,
      CostUsd: 0.001,
    });
    const many: SpanRow[] = [];
    for (let i = 0; i < 30; i++) many.push(span(traceId(100 + i, "d"), from + 100 + i * 10, `m-${i}`));
    // Starts before every other trace and ends after all of them: the newest activity.
    many.push(span(traceId(200, "d"), from, "m-long", 1000));
    // m-5's first trace, long before the cutoff: its figures still count it.
    many.push(span(traceId(201, "d"), from + 1, "m-5"));
    await parts().insert(many);
    const want = ["m-long", ...Array.from({ length: 30 }, (_, i) => `m-${29 - i}`)];
    const seen: { conversationId: string; traces: number }[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: any } = await parts().get(
        `/api/v1/sessions?from=${from - 60}&to=${from + 2000}&limit=2${cursor ? `&cursor=${cursor}` : ""}`,
      );
      expect(page.status).toBe(200);
      seen.push(...page.body.sessions);
      cursor = page.body.nextCursor;
    } while (cursor !== null && seen.length < 100);
    expect(seen.map((x) => x.conversationId)).toEqual(want);
    expect(seen.find((x) => x.conversationId === "m-5")?.traces).toBe(2);
    expect(seen.filter((x) => x.conversationId !== "m-5").every((x) => x.traces === 1)).toBe(true);
  });

  it("finds a session from a cutoff when its id is on a trace's first insert, long before the cutoff", async () => {
    const from = BASE + 12 * 86_400;
    const one = (n: number, at: number, conv: string, durationS = 1): SpanRow => ({
      TraceId: traceId(n, "e"),
      SpanId: `${String(n).padStart(15, "0")}1`,
      startNs: sec(at),
      Duration: durationS * 1e9,
      SpanName: "invoke_agent",
      ConversationId: conv,
    });
    const rows: SpanRow[] = [one(300, from, "s-split")];
    for (let i = 0; i < 20; i++) rows.push(one(301 + i, from + 100 + i * 10, `s-${i}`));
    await parts().insert(rows);
    // The split trace's last span, in a later insert, without the id: it ends after every other trace.
    await parts().insert([
      { ...one(300, from + 400, ""), SpanId: "3000000000000002", ParentSpanId: "0000000000003001" },
    ]);
    const page = await parts().get(`/api/v1/sessions?from=${from - 60}&to=${from + 2000}&limit=2`);
    expect(page.body.sessions.map((x: { conversationId: string }) => x.conversationId)).toEqual(["s-split", "s-19"]);
    expect(page.body.sessions[0]).toMatchObject({ traces: 1, spans: 2 });
  });
});
