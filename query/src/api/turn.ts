/**
 * Lets the event loop run other work (ingest, other requests) before going on. Long loops over a
 * read's rows or points call it every few thousand items, so one large answer never holds up the
 * process for more than a moment at a time.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Longest a loop that yields through `Turns` holds the event loop, whatever its units cost. */
export const TURN_BUDGET_MS = 8;

/**
 * Counts work done and yields the event loop once every `every` units, or sooner once the loop has
 * held it for `TURN_BUDGET_MS` (rows of a wide answer can each cost tens of microseconds).
 */
export class Turns {
  private done = 0;
  private since = performance.now();
  constructor(private readonly every: number) {}
  /** Adds `units`; a promise to await when it is time to yield, else undefined. */
  add(units: number): Promise<void> | undefined {
    this.done += units;
    if (this.done < this.every && performance.now() - this.since < TURN_BUDGET_MS) return undefined;
    this.done = 0;
    return nextTurn().then(() => {
      this.since = performance.now();
    });
  }
}
