import { ANONYMOUS, type AuthRuntime, type Identity } from "@cognive/collector";
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { errorBody } from "./errors.ts";
import { allows, type Permission, ROUTE_PERMISSIONS } from "./permissions.ts";

declare module "hono" {
  interface ContextVariableMap {
    identity: Identity;
  }
}

/** `METHOD /path` of the route that handles this request (its pattern), or null when none matched. */
export function routeKey(c: Context): string | null {
  const handlers = matchedRoutes(c).filter((r) => r.method !== "ALL");
  const last = handlers.at(-1);
  if (!last) return null;
  return `${c.req.method === "HEAD" ? "GET" : c.req.method} ${last.path}`;
}

/** The client's address, for audit entries and failed-sign-in counts. */
export function clientAddress(c: Context): string {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress ?? "";
}

/**
 * The one identity step of the query app: finds the route's declared permission, authenticates the
 * key (Bearer, or Basic with the key as password), checks the role and the key's request rate.
 * Without `auth` (tests, tools) every caller is the anonymous all-teams admin.
 */
export function authMiddleware(auth: AuthRuntime | null): MiddlewareHandler {
  return async (c, next) => {
    const key = routeKey(c);
    if (key === null) return next(); // no route: the 404 handler answers
    const permission: Permission | undefined = ROUTE_PERMISSIONS[key];
    if (permission === undefined) {
      return c.json(errorBody("forbidden", `no permission is declared for ${key}`), 403);
    }
    if (permission === "open") return next();
    if (auth === null) {
      c.set("identity", ANONYMOUS);
      return next();
    }
    const outcome = auth.check(c.req.header("authorization"), clientAddress(c));
    if (!outcome.ok) {
      c.header("WWW-Authenticate", 'Bearer realm="cognive", Basic realm="cognive"');
      return c.json(errorBody("unauthorized", outcome.reason), 401);
    }
    const identity = outcome.identity;
    if (!allows(identity.role, permission)) {
      return c.json(errorBody("forbidden", `a ${identity.role} key may not call ${key}`), 403);
    }
    const take = await auth.limit(identity, "requests");
    if (!take.allowed) {
      c.header("Retry-After", String(Math.max(1, Math.ceil(take.retryAfterSeconds))));
      return c.json(errorBody("rate_limited", "request rate limit of this key reached"), 429);
    }
    c.set("identity", identity);
    return next();
  };
}

/** The caller of this request, as `authMiddleware` found it. */
export function identityOf(c: Context): Identity {
  const id = c.get("identity");
  if (!id) throw new Error("identity missing: authMiddleware not mounted");
  return id;
}
