import { type AuthRuntime, auditEntries, type Identity, ROLES, type Storage, verifyAudit } from "@cognive/collector";
import { Hono } from "hono";
import { z } from "zod";
import { clientAddress, identityOf } from "./auth.ts";
import { ApiError, badRequest, notFound } from "./errors.ts";
import { parseQuery } from "./params.ts";
import { auditQuery, emptyQuery } from "./schemas.ts";

const teamName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^\s]+$/, "a team name has no spaces");

/** Body of `POST /api/v1/keys`. */
export const newKeyBody = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    role: z.enum(ROLES),
    teams: z.union([z.literal("all"), z.array(teamName).min(1).max(100)]),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    rateLimit: z
      .strictObject({
        requestsPerSecond: z.number().positive().max(1e6),
        spansPerSecond: z.number().positive().max(1e9).optional(),
      })
      .optional(),
  })
  .refine((k) => k.role !== "ingest" || (k.teams !== "all" && k.teams.length === 1), {
    message: "an ingest key belongs to exactly one team",
    path: ["teams"],
  });

const actorOf = (id: Identity) => ({ id: id.keyId, name: id.name });

/** Keys, who-am-I and the audit log, under `/api/v1`. Without auth they answer 404. */
export function adminRoutes(deps: { storage: Storage; auth: AuthRuntime | null }): Hono {
  const api = new Hono();
  const auth = () => {
    if (!deps.auth) throw notFound("keys are not enabled in this process");
    return deps.auth;
  };

  api.get("/whoami", (c) => {
    parseQuery(c, emptyQuery);
    const id = identityOf(c);
    return c.json({
      id: id.keyId,
      name: id.name,
      role: id.role,
      teams: id.teams,
      authRequired: deps.auth?.mode === "required",
    });
  });

  api.get("/keys", (c) => {
    parseQuery(c, emptyQuery);
    return c.json({ keys: auth().keys.list() });
  });

  api.post("/keys", async (c) => {
    // JSON only: a cross-origin HTML form cannot send it without a CORS preflight.
    if (!(c.req.header("content-type") ?? "").toLowerCase().startsWith("application/json")) {
      throw new ApiError(415, "unsupported_media_type", "send the key as application/json");
    }
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch {
      throw badRequest("the body is not valid JSON");
    }
    const parsed = newKeyBody.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw badRequest(`${issue.path.join(".") || "body"}: ${issue.message}`);
    }
    const a = auth();
    const spec = parsed.data;
    if (spec.expiresAt !== undefined && Date.parse(spec.expiresAt) <= Date.now()) {
      throw badRequest("expiresAt: must be in the future");
    }
    const { key, record } = await a.keys.create({
      name: spec.name,
      role: spec.role,
      teams: spec.teams,
      expiresAt: spec.expiresAt ? new Date(spec.expiresAt).toISOString() : null,
      rateLimit: spec.rateLimit ?? null,
    });
    await a.audit.append({
      actor: actorOf(identityOf(c)),
      source: clientAddress(c),
      action: "key.create",
      target: record.id,
      details: { name: record.name, role: record.role, teams: record.teams, expiresAt: record.expiresAt },
    });
    return c.json({ ...record, key }, 201);
  });

  api.delete("/keys/:id", async (c) => {
    const id = c.req.param("id");
    if (!/^key_[0-9A-Za-z]{1,32}$/.test(id)) throw notFound(`no key ${JSON.stringify(id.slice(0, 40))}`);
    const a = auth();
    const revoked = await a.keys.revoke(id);
    if (revoked === null) throw notFound(`no key ${id}`);
    await a.audit.append({
      actor: actorOf(identityOf(c)),
      source: clientAddress(c),
      action: "key.revoke",
      target: id,
      details: { name: revoked.name },
    });
    return c.body(null, 204);
  });

  api.get("/audit/verify", async (c) => {
    auth();
    parseQuery(c, emptyQuery);
    return c.json(await verifyAudit(deps.storage));
  });

  api.get("/audit", async (c) => {
    auth();
    const q = parseQuery(c, auditQuery);
    const to = q.to === undefined ? new Date() : new Date(Number(q.to / 1_000_000n));
    const from =
      q.from === undefined ? new Date(to.getTime() - 30 * 86_400_000) : new Date(Number(q.from / 1_000_000n));
    if (from > to) throw badRequest("query parameter 'from' is after 'to'");
    const entries = await auditEntries(deps.storage, from, to, q.limit ?? 1000);
    return c.json({
      entries: entries.map((e) => ({
        id: e.id,
        chain: e.chain,
        seq: e.seq,
        time: e.time,
        actor: e.actor,
        source: e.source,
        action: e.action,
        target: e.target,
        details: e.details,
        prevHash: e.prevHash,
        hash: e.hash,
      })),
    });
  });

  return api;
}
