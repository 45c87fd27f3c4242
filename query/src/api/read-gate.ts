import { ReadAbortedError, ReadBusyError } from "./errors.ts";

interface Waiter {
  admit(): void;
  refuse(err: Error): void;
}

/**
 * Admission for reads: at most `concurrency` run at once, at most `queueSize` wait, and none waits
 * longer than `waitMs`. Over either bound a read is refused with `ReadBusyError` (503) at once
 * instead of queueing behind slow reads for ever. A waiter whose caller went away leaves the queue.
 */
export class ReadGate {
  private running = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly queueSize: number,
    private readonly waitMs: number,
  ) {}

  get stats(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.queue.length };
  }

  /** Waits for a slot; the returned function gives it back (call it exactly once). */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw new ReadAbortedError("the caller went away before the read started");
    if (this.running < this.concurrency && this.queue.length === 0) {
      this.running++;
      return this.releaser();
    }
    const retryAfter = Math.max(1, Math.ceil(this.waitMs / 1000));
    if (this.queue.length >= this.queueSize) {
      throw new ReadBusyError(
        `too many reads in progress (${this.running} running, ${this.queue.length} waiting); retry in ${retryAfter} s`,
        retryAfter,
      );
    }
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const leave = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        admit: () => {
          leave();
          resolve();
        },
        refuse: (err) => {
          leave();
          reject(err);
        },
      };
      const onAbort = () => waiter.refuse(new ReadAbortedError("the caller went away while its read waited"));
      timer = setTimeout(
        () =>
          waiter.refuse(
            new ReadBusyError(
              `the read waited ${this.waitMs / 1000} s for one of ${this.concurrency} read slots; retry in ${retryAfter} s`,
              retryAfter,
            ),
          ),
        this.waitMs,
      );
      signal?.addEventListener("abort", onAbort, { once: true });
      this.queue.push(waiter);
    });
    // `admit` took the slot on this read's behalf.
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.drain();
    };
  }

  private drain(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const next = this.queue[0];
      this.running++;
      next.admit();
    }
  }
}
