import { trace } from "@opentelemetry/api";

/** Thrown by `budget.guard()` when the collector says the agent or its run is over budget. */
export class BudgetExceededError extends Error {
  override name = "BudgetExceededError";
  constructor(
    readonly agent: string,
    readonly reasons: string[],
    readonly remainingUsd: number | null,
  ) {
    super(`budget exceeded for ${agent}: ${reasons.join("; ")}`);
  }
}

/** The span event `guard()` adds to the active span when it stops a run. */
export const GUARD_DENIED_EVENT = "cognive.budget.guard_denied";

export interface BudgetOptions {
  /** Query API base URL (budget checks). Default `http://127.0.0.1:3300`. */
  apiUrl?: string;
  /** Token, sent as `Authorization: Bearer <token>`. */
  apiKey?: string;
  /** Agent checked when `guard` names none. */
  agent?: string;
  /** How long an answer is reused. Default 1000 ms. */
  cacheMillis?: number;
  /** Longest a check may take; on timeout or any failure the guard lets the agent go on. Default 500 ms. */
  timeoutMillis?: number;
}

export interface Budget {
  /**
   * Throws BudgetExceededError when the agent, its team, or the current run (the active trace, or
   * `traceId`) has used its budget. A collector that cannot be asked never stops the agent.
   */
  guard(opts?: { agent?: string; traceId?: string }): Promise<void>;
}

interface CheckAnswer {
  allowed: boolean;
  remainingUsd: number | null;
  reasons: string[];
}

export const DEFAULT_API_URL = "http://127.0.0.1:3300";

export function createBudget(opts: BudgetOptions = {}): Budget {
  const base = (opts.apiUrl ?? DEFAULT_API_URL).replace(/\/+$/, "");
  const cacheMillis = opts.cacheMillis ?? 1000;
  const timeoutMillis = opts.timeoutMillis ?? 500;
  const cache = new Map<string, { at: number; answer: CheckAnswer }>();

  async function check(agent: string, traceId: string | undefined): Promise<CheckAnswer | null> {
    const key = `${agent}\u0000${traceId ?? ""}`;
    const hit = cache.get(key);
    if (hit && Date.now() - hit.at < cacheMillis) return hit.answer;
    const params = new URLSearchParams({ agent });
    if (traceId) params.set("traceId", traceId);
    try {
      const res = await fetch(`${base}/api/v1/budget-check?${params}`, {
        headers: opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {},
        signal: AbortSignal.timeout(timeoutMillis),
      });
      if (!res.ok) return null;
      const answer = (await res.json()) as CheckAnswer;
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { at: Date.now(), answer });
      return answer;
    } catch {
      return null; // telemetry never stops the agent
    }
  }

  return {
    async guard(g = {}) {
      const agent = g.agent ?? opts.agent;
      if (!agent) return;
      const traceId = g.traceId ?? trace.getActiveSpan()?.spanContext().traceId;
      const answer = await check(agent, traceId);
      if (answer && answer.allowed === false) {
        // Marks the run as stopped by the guard even when the agent catches the error.
        trace.getActiveSpan()?.addEvent(GUARD_DENIED_EVENT, {
          "cognive.budget.agent": agent,
          "cognive.budget.reasons": answer.reasons ?? [],
        });
        throw new BudgetExceededError(agent, answer.reasons ?? [], answer.remainingUsd ?? null);
      }
    },
  };
}
