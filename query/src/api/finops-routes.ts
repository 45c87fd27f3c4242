import {
  type ChargebackRowSql,
  chargebackCsv,
  chargebackHtml,
  chargebackSql,
  monthRange,
  type Storage,
  toChargeback,
} from "@cognive/collector";
import type { Hono } from "hono";
import { z } from "zod";
import { badRequest, notFound } from "./errors.ts";
import { intParam, parseQuery, resolveRange, textParam, timeRangeShape } from "./params.ts";
import { emptyQuery } from "./schemas.ts";
import { scopeOf, teamCondition } from "./scope.ts";
import { decodeSessionCursor, getSession, listSessions } from "./sessions.ts";
import { databaseOf, select } from "./sql.ts";

/** Query parameters of `GET /api/v1/sessions`. */
export const sessionsQuery = z.strictObject({
  ...timeRangeShape,
  agent: textParam("only sessions with a trace of this agent").optional(),
  team: textParam("only sessions with a trace of this team").optional(),
  user: textParam("only sessions with a span of this user (user.id, enduser.id, …)").optional(),
  limit: intParam(1, 1000, "sessions per page, default 50").optional(),
  cursor: z.string().max(1400).describe("nextCursor of the previous page").optional(),
});

/** A conversation id in the path: what ingest stores, bounded and free of control characters. */
export const conversationIdParam = textParam("conversation id");

/** Query parameters of `GET /api/v1/reports/chargeback`. */
export const chargebackQuery = z.strictObject({
  month: z
    .string()
    .regex(/^\d{4}-(0[1-9]|1[0-2])$/, "expected a month as YYYY-MM")
    .refine((m) => monthRange(m) !== undefined, "expected a month between 1970-01 and 2200-12")
    .describe("the calendar month (UTC), YYYY-MM"),
  format: z.enum(["csv", "json", "html"]).describe("csv, json or printable html; default json").optional(),
  team: textParam("only this team").optional(),
});

/** Sessions and chargeback reports under `/api/v1`; every read goes through the request's scope. */
export function mountFinopsRoutes(api: Hono, storage: Storage): void {
  api.get("/sessions", async (c) => {
    const q = parseQuery(c, sessionsQuery);
    const cursor = q.cursor === undefined ? undefined : decodeSessionCursor(q.cursor);
    return c.json(
      await listSessions(storage, scopeOf(c), {
        ...resolveRange(q),
        agent: q.agent,
        team: q.team,
        user: q.user,
        limit: q.limit ?? 50,
        cursor,
      }),
    );
  });

  api.get("/sessions/:id", async (c) => {
    parseQuery(c, emptyQuery);
    const id = conversationIdParam.safeParse(c.req.param("id"));
    if (!id.success) throw badRequest("invalid path parameter 'id': 1 to 512 characters, no control characters");
    const session = await getSession(storage, scopeOf(c), id.data);
    if (!session) throw notFound("session not found");
    return c.json(session);
  });

  api.get("/reports/chargeback", async (c) => {
    const q = parseQuery(c, chargebackQuery);
    const range = monthRange(q.month);
    if (!range) throw badRequest("invalid query parameter 'month'");
    const team = teamCondition(scopeOf(c), { column: "TeamName" });
    const params: Record<string, unknown> = {
      ...team.params,
      fromNs: String(range.fromNs),
      toNs: String(range.toNs),
    };
    if (q.team !== undefined) params.team = q.team;
    const rows = await select<ChargebackRowSql>(
      storage,
      chargebackSql(databaseOf(storage), team.sql, q.team !== undefined),
      params,
    );
    const report = toChargeback(q.month, rows);
    const format = q.format ?? "json";
    if (format === "csv") {
      return c.body(chargebackCsv(report), 200, {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": `attachment; filename="chargeback-${q.month}.csv"`,
      });
    }
    if (format === "html") {
      // The report has no script: forbid any, so a name in it can never run as code.
      return c.body(chargebackHtml(report), 200, {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
      });
    }
    return c.json(report);
  });
}
