/** The agent registry as `GET /api/v1/agents` returns it, and how the table sorts it. Pure. */

export interface AgentEntry {
  name: string;
  team: string | null;
  declared: boolean;
  policy: {
    allowedModels: string[] | null;
    approvedTools: string[] | null;
    budgets: { perRunUsd: number | null; dailyUsd: number | null; monthlyUsd: number | null };
  } | null;
  firstSeen: string | null;
  lastSeen: string | null;
  models: string[];
  tools: string[];
  calls: number;
  errorRate: number | null;
  spendTodayUsd: number;
  spendUsd: number;
  violations: number;
}

export type SortKey =
  | "name"
  | "team"
  | "policy"
  | "models"
  | "calls"
  | "errorRate"
  | "spendTodayUsd"
  | "spendUsd"
  | "violations";
export type SortDir = "asc" | "desc";

/** The value a column sorts by; null sorts last whatever the direction. */
export function sortValue(a: AgentEntry, key: SortKey): string | number | null {
  switch (key) {
    case "name":
      return a.name.toLowerCase();
    case "team":
      return a.team?.toLowerCase() ?? null;
    case "policy":
      // Tightest daily budget first when ascending; undeclared agents have none.
      return a.policy?.budgets.dailyUsd ?? a.policy?.budgets.monthlyUsd ?? null;
    case "models":
      return a.models.length;
    case "errorRate":
      return a.errorRate;
    default:
      return a[key];
  }
}

/** Agents sorted by one column; ties by name, so the order never depends on the API's order. */
export function sortAgents(agents: readonly AgentEntry[], key: SortKey, dir: SortDir): AgentEntry[] {
  const sign = dir === "asc" ? 1 : -1;
  return [...agents].sort((a, b) => {
    const va = sortValue(a, key);
    const vb = sortValue(b, key);
    if (va === null && vb !== null) return 1;
    if (vb === null && va !== null) return -1;
    if (va !== null && vb !== null && va !== vb) return (va < vb ? -1 : 1) * sign;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

/** Clicking the sorted column flips it; another column starts descending for numbers, ascending for text. */
export function nextSort(current: { key: SortKey; dir: SortDir }, key: SortKey): { key: SortKey; dir: SortDir } {
  if (current.key === key) return { key, dir: current.dir === "asc" ? "desc" : "asc" };
  const textual = key === "name" || key === "team";
  return { key, dir: textual ? "asc" : "desc" };
}

/** `aria-sort` of a header cell. */
export function ariaSort(current: { key: SortKey; dir: SortDir }, key: SortKey): "ascending" | "descending" | "none" {
  if (current.key !== key) return "none";
  return current.dir === "asc" ? "ascending" : "descending";
}

/**
 * The policy file's `allowed_models` glob as the server reads it: `*` any run of characters, `?`
 * one character, everything else literal, case-sensitive, anchored.
 */
export function globMatch(pattern: string, value: string): boolean {
  let src = "";
  for (const ch of pattern) {
    src += ch === "*" ? ".*" : ch === "?" ? "." : ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${src}$`, "su").test(value);
}
