/**
 * Lets the event loop run other work (ingest, other requests) before going on. Long loops over a
 * read's rows or points call it every few thousand items, so one large answer never holds up the
 * process for more than a moment at a time.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Counts work done and yields the event loop once every `every` units. */
export class Turns {
  private done = 0;
  constructor(private readonly every: number) {}
  /** Adds `units`; a promise to await when it is time to yield, else undefined. */
  add(units: number): Promise<void> | undefined {
    this.done += units;
    if (this.done < this.every) return undefined;
    this.done = 0;
    return nextTurn();
  }
}
