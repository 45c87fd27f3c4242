import type { Logger } from "../log.ts";
import type { Storage } from "../storage/client.ts";
import { API_KEY_USAGE_TABLE, API_KEYS_TABLE } from "../storage/schema.ts";
import { chTime, queryRows } from "../storage/sql.ts";
import { generateKey, hashKey, isWellFormedKey, newKeyId, type Role, sameHash, type Teams } from "./keys.ts";

/** Per-key rate limits; null fields fall back to the defaults. */
export interface RateLimit {
  requestsPerSecond: number | null;
  spansPerSecond: number | null;
}

/** A key as the server knows it (never the key itself). */
export interface ApiKey {
  id: string;
  name: string;
  role: Role;
  teams: Teams;
  expiresAt: string | null;
  rateLimit: RateLimit;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** Who is calling, once a key was accepted. */
export interface Identity {
  keyId: string;
  name: string;
  role: Role;
  teams: Teams;
  rateLimit: RateLimit;
}

export interface NewKey {
  name: string;
  role: Role;
  teams: Teams;
  expiresAt?: string | null;
  rateLimit?: Partial<RateLimit> | null;
}

interface Row {
  Id: string;
  Hash: string;
  Name: string;
  Role: Role;
  AllTeams: number;
  Teams: string[];
  ExpiresAt: string | null;
  RequestsPerSecond: number;
  SpansPerSecond: number;
  CreatedAt: string;
  RevokedAt: string | null;
  LastUsedAt: string | null;
}

/** A stored time (`YYYY-MM-DD hh:mm:ss.sss` in UTC, or ISO) as ISO. */
const isoOf = (t: string | null) =>
  t === null || t === "" ? null : new Date(t.includes("T") ? t : `${t.replace(" ", "T")}Z`).toISOString();

/**
 * Key records shared outside storage (Redis, in scaled mode): processes that do not share a
 * ClickHouse (or read it with a delay) still know every key and every revocation at once.
 */
export interface KeyRegistry {
  put(hash: string, key: ApiKey): Promise<void>;
  all(): Promise<{ hash: string; key: ApiKey }[]>;
}

/** Adds a key record to a set of them; a revocation known to either side wins. */
function merge(into: Map<string, { hash: string; key: ApiKey }>, entry: { hash: string; key: ApiKey }): void {
  const known = into.get(entry.hash);
  if (!known || (entry.key.revokedAt !== null && known.key.revokedAt === null)) into.set(entry.hash, entry);
}

/** The id of the admin key given in `COGNIVE_ADMIN_KEY` (held in memory only). */
export const ENV_ADMIN_ID = "env-admin";

/**
 * Keys, kept in ClickHouse and cached in every process: a lookup is a hash-map hit, and the cache is
 * re-read every `refreshMs` (and at once when another process announces a change), so a revocation
 * takes effect everywhere within about that time.
 */
export class KeyStore {
  private byHash = new Map<string, { hash: string; key: ApiKey }>();
  private timer: NodeJS.Timeout | null = null;
  private readonly used = new Map<string, number>();
  private envAdmin: { hash: string; key: ApiKey } | null = null;
  /** Called after this process changed a key, so other processes can reload at once. */
  onChange: (() => void) | null = null;
  /** Where keys are also kept for other processes, when configured. */
  registry: KeyRegistry | null = null;

  constructor(
    private readonly storage: Storage,
    private readonly log: Logger,
    private readonly refreshMs = 1000,
  ) {}

  /** Adds the bootstrap admin key from the environment (its hash only). */
  setEnvAdminKey(key: string): void {
    this.envAdmin = {
      hash: hashKey(key),
      key: {
        id: ENV_ADMIN_ID,
        name: "COGNIVE_ADMIN_KEY",
        role: "admin",
        teams: "all",
        expiresAt: null,
        rateLimit: { requestsPerSecond: null, spansPerSecond: null },
        createdAt: new Date().toISOString(),
        revokedAt: null,
        lastUsedAt: null,
      },
    };
  }

  async start(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => {
      this.reload().catch((err) => this.log.warn("keys: reload failed; keeping the last known keys", { err }));
      this.flushUsage().catch(() => {});
    }, this.refreshMs);
    this.timer.unref();
  }

  stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    return this.flushUsage();
  }

  /** Re-reads every key from storage. */
  async reload(): Promise<void> {
    const db = this.storage.database;
    const rows = await queryRows<Row>(
      this.storage,
      `SELECT k.Id AS Id, anyIf(k.Hash, k.Hash != '') AS Hash, anyIf(k.Name, k.Hash != '') AS Name, anyIf(k.Role, k.Hash != '') AS Role,
                anyIf(k.AllTeams, k.Hash != '') AS AllTeams, anyIf(k.Teams, k.Hash != '') AS Teams, anyIf(k.ExpiresAt, k.Hash != '') AS ExpiresAt,
                anyIf(k.RequestsPerSecond, k.Hash != '') AS RequestsPerSecond, anyIf(k.SpansPerSecond, k.Hash != '') AS SpansPerSecond,
                toString(min(k.CreatedAt)) AS CreatedAt,
                toString(max(k.RevokedAt)) AS RevokedAt,
                toString(max(u.LastUsedAt)) AS LastUsedAt
              FROM ${db}.${API_KEYS_TABLE} AS k
              LEFT JOIN ${db}.${API_KEY_USAGE_TABLE} AS u ON u.Id = k.Id
              GROUP BY k.Id
              SETTINGS join_use_nulls = 1`,
    );
    const next = new Map<string, { hash: string; key: ApiKey }>();
    for (const r of rows) {
      const key: ApiKey = {
        id: r.Id,
        name: r.Name,
        role: r.Role,
        teams: r.AllTeams ? "all" : r.Teams,
        expiresAt: r.ExpiresAt === null ? null : isoOf(String(r.ExpiresAt)),
        rateLimit: {
          requestsPerSecond: r.RequestsPerSecond > 0 ? r.RequestsPerSecond : null,
          spansPerSecond: r.SpansPerSecond > 0 ? r.SpansPerSecond : null,
        },
        createdAt: isoOf(r.CreatedAt) as string,
        revokedAt: r.RevokedAt === null || r.RevokedAt.startsWith("1970") ? null : isoOf(r.RevokedAt),
        lastUsedAt: r.LastUsedAt === null || r.LastUsedAt.startsWith("1970") ? null : isoOf(r.LastUsedAt),
      };
      if (r.Hash !== "") next.set(r.Hash, { hash: r.Hash, key });
    }
    if (this.registry) {
      try {
        for (const shared of await this.registry.all()) merge(next, shared);
      } catch {
        /* the registry is a shortcut; storage remains the record */
      }
    }
    // What this process already knows stays: a key created or revoked while this reload was reading
    // is not undone by a snapshot taken before it (keys are never deleted, so nothing is lost).
    for (const known of this.byHash.values()) merge(next, known);
    this.byHash = next;
  }

  /** Every key, newest first (never the key itself). */
  list(): ApiKey[] {
    return [...this.byHash.values()].map((e) => e.key).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** Creates a key; the key itself is returned this once and never stored. */
  async create(spec: NewKey): Promise<{ key: string; record: ApiKey }> {
    const { key, hash } = generateKey();
    const record: ApiKey = {
      id: newKeyId(),
      name: spec.name,
      role: spec.role,
      teams: spec.teams === "all" ? "all" : [...new Set(spec.teams)].sort(),
      expiresAt: spec.expiresAt ?? null,
      rateLimit: {
        requestsPerSecond: spec.rateLimit?.requestsPerSecond ?? null,
        spansPerSecond: spec.rateLimit?.spansPerSecond ?? null,
      },
      createdAt: new Date().toISOString(),
      revokedAt: null,
      lastUsedAt: null,
    };
    await this.storage.client.insert({
      table: `${this.storage.database}.${API_KEYS_TABLE}`,
      format: "JSONEachRow",
      values: [
        {
          Id: record.id,
          Hash: hash,
          Name: record.name,
          Role: record.role,
          AllTeams: record.teams === "all" ? 1 : 0,
          Teams: record.teams === "all" ? [] : record.teams,
          ExpiresAt: record.expiresAt === null ? null : chTime(record.expiresAt),
          RequestsPerSecond: record.rateLimit.requestsPerSecond ?? 0,
          SpansPerSecond: record.rateLimit.spansPerSecond ?? 0,
          CreatedAt: chTime(record.createdAt),
          RevokedAt: null,
        },
      ],
    });
    this.byHash.set(hash, { hash, key: record });
    await this.registry?.put(hash, record).catch(() => {});
    this.onChange?.();
    return { key, record };
  }

  /** Revokes a key at once in this process (and within the refresh interval elsewhere). */
  async revoke(id: string): Promise<ApiKey | null> {
    const entry = [...this.byHash.values()].find((e) => e.key.id === id);
    if (!entry) return null;
    const revokedAt = new Date().toISOString();
    await this.storage.client.insert({
      table: `${this.storage.database}.${API_KEYS_TABLE}`,
      format: "JSONEachRow",
      values: [
        {
          Id: id,
          Hash: "",
          Name: "",
          Role: entry.key.role,
          AllTeams: 0,
          Teams: [],
          ExpiresAt: null,
          RequestsPerSecond: 0,
          SpansPerSecond: 0,
          CreatedAt: chTime(entry.key.createdAt),
          RevokedAt: chTime(revokedAt),
        },
      ],
    });
    // Into the map in use now: a reload may have replaced the one the entry was found in.
    const revoked = { hash: entry.hash, key: { ...entry.key, revokedAt } };
    this.byHash.set(entry.hash, revoked);
    await this.registry?.put(revoked.hash, revoked.key).catch(() => {});
    this.onChange?.();
    return revoked.key;
  }

  /** The identity of a presented key, or null: unknown, malformed, revoked or expired alike. */
  authenticate(presented: string, now = Date.now()): Identity | null {
    const hash = hashKey(presented);
    const isEnvAdmin = this.envAdmin !== null && sameHash(this.envAdmin.hash, hash);
    if (!isEnvAdmin && !isWellFormedKey(presented)) return null;
    const entry = isEnvAdmin ? this.envAdmin : this.byHash.get(hash);
    if (!entry || !sameHash(entry.hash, hash)) return null;
    const k = entry.key;
    if (k.revokedAt !== null) return null;
    if (k.expiresAt !== null && Date.parse(k.expiresAt) <= now) return null;
    if (k.id !== ENV_ADMIN_ID) this.used.set(k.id, now);
    return { keyId: k.id, name: k.name, role: k.role, teams: k.teams, rateLimit: k.rateLimit };
  }

  /** Writes last-used times (at most once per refresh interval per key). */
  private async flushUsage(): Promise<void> {
    if (this.used.size === 0) return;
    const values = [...this.used].map(([Id, t]) => ({ Id, LastUsedAt: chTime(new Date(t)) }));
    this.used.clear();
    await this.storage.client.insert({
      table: `${this.storage.database}.${API_KEY_USAGE_TABLE}`,
      format: "JSONEachRow",
      values,
    });
  }
}
