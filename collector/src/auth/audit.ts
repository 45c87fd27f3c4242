import { createHash, randomUUID } from "node:crypto";
import type { Storage } from "../storage/client.ts";
import { AUDIT_TABLE } from "../storage/schema.ts";
import { chTime, queryRows } from "../storage/sql.ts";

/**
 * The audit log: an append-only table of admin actions in which every entry carries the hash of the
 * entry before it, so editing or deleting a stored row breaks the chain at that row.
 *
 * Each writing process keeps a chain of its own (`Chain`, the instance name), continued across its
 * restarts; `verify` checks every chain separately. With one process (embedded mode) there is one chain.
 */
export interface AuditActor {
  id: string;
  name: string;
}

export interface AuditEvent {
  actor: AuditActor;
  /** Where the request came from (client address), or "local" for the process itself. */
  source: string;
  /** `key.create`, `key.revoke`, `policy.load`, `auth.failures`, `config.start`, … */
  action: string;
  target: string;
  details?: Record<string, unknown>;
}

export interface AuditEntry {
  chain: string;
  seq: number;
  id: string;
  time: string;
  actor: AuditActor;
  source: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

const GENESIS = "0".repeat(64);

/** JSON with object keys sorted at every level: the same entry always hashes the same. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/** SHA-256 over the previous hash and the entry's canonical JSON (without its own hash). */
export function entryHash(e: Omit<AuditEntry, "hash">): string {
  return createHash("sha256").update(e.prevHash).update(canonicalJson(e)).digest("hex");
}

interface Row {
  Chain: string;
  Seq: string;
  Id: string;
  At: string;
  ActorId: string;
  ActorName: string;
  Source: string;
  Action: string;
  Target: string;
  Details: string;
  PrevHash: string;
  Hash: string;
}

function fromRow(r: Row): AuditEntry {
  let details: Record<string, unknown>;
  try {
    details = JSON.parse(r.Details);
  } catch {
    details = { unparsable: r.Details };
  }
  return {
    chain: r.Chain,
    seq: Number(r.Seq),
    id: r.Id,
    time: new Date(`${r.At.replace(" ", "T")}Z`).toISOString(),
    actor: { id: r.ActorId, name: r.ActorName },
    source: r.Source,
    action: r.Action,
    target: r.Target,
    details,
    prevHash: r.PrevHash,
    hash: r.Hash,
  };
}

const SELECT = `SELECT Chain, Seq, Id, toString(Time) AS At, ActorId, ActorName, Source, Action, Target, Details, PrevHash, Hash`;

export class AuditLog {
  private tail: Promise<{ seq: number; hash: string }> | null = null;
  private writes: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly storage: Storage,
    /** This writer's chain. */
    readonly chain: string,
  ) {}

  private async last(): Promise<{ seq: number; hash: string }> {
    const rows = await queryRows<{ Seq: string; Hash: string }>(
      this.storage,
      `SELECT Seq, Hash FROM ${this.storage.database}.${AUDIT_TABLE}
       WHERE Chain = {chain:String} ORDER BY Seq DESC LIMIT 1`,
      { chain: this.chain },
    );
    return rows.length === 0 ? { seq: 0, hash: GENESIS } : { seq: Number(rows[0].Seq), hash: rows[0].Hash };
  }

  /** Appends one entry (entries of this process are written one at a time, in order). */
  append(event: AuditEvent): Promise<AuditEntry> {
    const run = this.writes.then(async () => {
      this.tail ??= this.last();
      const prev = await this.tail;
      const base: Omit<AuditEntry, "hash"> = {
        chain: this.chain,
        seq: prev.seq + 1,
        id: randomUUID(),
        time: new Date().toISOString(),
        actor: event.actor,
        source: event.source,
        action: event.action,
        target: event.target,
        details: event.details ?? {},
        prevHash: prev.hash,
      };
      const entry: AuditEntry = { ...base, hash: entryHash(base) };
      await this.storage.client.insert({
        table: `${this.storage.database}.${AUDIT_TABLE}`,
        format: "JSONEachRow",
        values: [
          {
            Chain: entry.chain,
            Seq: entry.seq,
            Id: entry.id,
            Time: chTime(entry.time),
            ActorId: entry.actor.id,
            ActorName: entry.actor.name,
            Source: entry.source,
            Action: entry.action,
            Target: entry.target,
            Details: JSON.stringify(entry.details),
            PrevHash: entry.prevHash,
            Hash: entry.hash,
          },
        ],
      });
      this.tail = Promise.resolve({ seq: entry.seq, hash: entry.hash });
      return entry;
    });
    // A failed write leaves the tail to be read again from storage.
    this.writes = run.catch(() => {
      this.tail = null;
    });
    return run;
  }
}

/** Entries with a time in [from, to], oldest first, across all chains. */
export async function auditEntries(storage: Storage, from: Date, to: Date, limit = 1000): Promise<AuditEntry[]> {
  return (
    await queryRows<Row>(
      storage,
      `${SELECT} FROM ${storage.database}.${AUDIT_TABLE}
            WHERE Time BETWEEN {from:DateTime64(3, 'UTC')} AND {to:DateTime64(3, 'UTC')}
            ORDER BY Time, Chain, Seq LIMIT {limit:UInt32}`,
      { from: chTime(from), to: chTime(to), limit },
    )
  ).map(fromRow);
}

export interface VerifyResult {
  ok: boolean;
  chains: number;
  entries: number;
  /** The first broken link: which entry, and why. */
  broken?: { chain: string; seq: number; id: string; reason: string };
}

/** Checks every chain from its first entry: sequence without gaps, each link, each hash. */
export async function verifyAudit(storage: Storage): Promise<VerifyResult> {
  const rows = (
    await queryRows<Row>(storage, `${SELECT} FROM ${storage.database}.${AUDIT_TABLE} ORDER BY Chain, Seq`)
  ).map(fromRow);
  const chains = new Set<string>();
  let prev: AuditEntry | null = null;
  for (const e of rows) {
    chains.add(e.chain);
    const first = prev === null || prev.chain !== e.chain;
    const expectedSeq = first ? 1 : (prev as AuditEntry).seq + 1;
    const expectedPrev = first ? GENESIS : (prev as AuditEntry).hash;
    const fail = (reason: string): VerifyResult => ({
      ok: false,
      chains: chains.size,
      entries: rows.length,
      broken: { chain: e.chain, seq: e.seq, id: e.id, reason },
    });
    if (e.seq !== expectedSeq) return fail(`entry ${expectedSeq} is missing (found ${e.seq})`);
    if (e.prevHash !== expectedPrev) return fail("does not link to the entry before it");
    const { hash, ...rest } = e;
    if (entryHash(rest) !== hash) return fail("its content does not match its hash (edited)");
    prev = e;
  }
  return { ok: true, chains: chains.size, entries: rows.length };
}
