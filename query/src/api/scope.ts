import type { Context, MiddlewareHandler } from "hono";

/**
 * What a request may read. Every read builds its SQL with `teamCondition`, so restricting viewers to
 * their teams is a change to `resolveScope` alone. Today every request may read every team.
 */
export interface QueryScope {
  readonly teams: "all" | readonly string[];
}

export const ALL_TEAMS: QueryScope = Object.freeze({ teams: "all" });

/** A piece of SQL and the values it binds (`{name:Type}` placeholders). */
export interface SqlCondition {
  sql: string;
  params: Record<string, unknown>;
}

/**
 * How the team of a row is stored: a plain column (`TeamName`) or an array of teams (the
 * re-aggregated `Teams` of `trace_summary`). Column expressions are code constants, never input.
 */
export type TeamColumn = { column: string } | { array: string };

const PARAM = "scope_teams";

/** The condition that keeps only rows the scope may read; "1" when it may read everything. */
export function teamCondition(scope: QueryScope, target: TeamColumn): SqlCondition {
  if (scope.teams === "all") return { sql: "1", params: {} };
  if (scope.teams.length === 0) return { sql: "0", params: {} };
  const teams = [...scope.teams];
  if ("column" in target) return { sql: `${target.column} IN {${PARAM}:Array(String)}`, params: { [PARAM]: teams } };
  return { sql: `hasAny(${target.array}, {${PARAM}:Array(String)})`, params: { [PARAM]: teams } };
}

/** The scope of one request: the teams of the caller's key. The single place identity turns into teams. */
export function resolveScope(c: Context): QueryScope {
  const identity = c.get("identity");
  // No identity means the auth step did not run for this route: see nothing rather than everything.
  if (!identity) return NO_TEAMS;
  return identity.teams === "all" ? ALL_TEAMS : Object.freeze({ teams: [...identity.teams] });
}

const NO_TEAMS: QueryScope = Object.freeze({ teams: [] });

/** Whether a scope may see rows of this team (rows with no team: all-team scopes only). */
export function scopeAllows(scope: QueryScope, team: string | null | undefined): boolean {
  if (scope.teams === "all") return true;
  return !!team && scope.teams.includes(team);
}

declare module "hono" {
  interface ContextVariableMap {
    queryScope: QueryScope;
  }
}

/** Attaches the request's scope; handlers read it with `scopeOf`. */
export const scopeMiddleware: MiddlewareHandler = async (c, next) => {
  c.set("queryScope", resolveScope(c));
  await next();
};

/** The scope attached by `scopeMiddleware`. Fails closed if the middleware did not run. */
export function scopeOf(c: Context): QueryScope {
  const scope = c.get("queryScope");
  if (!scope) throw new Error("query scope missing: scopeMiddleware not mounted");
  return scope;
}
