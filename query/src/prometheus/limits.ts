import { ReadLimitError } from "../api/errors.ts";

const count = (n: number) => n.toLocaleString("en-US");

/**
 * What one PromQL query may hold in memory, checked while it reads and as it evaluates: the
 * per-minute samples read from storage (all selectors together), and the series and points
 * (series × steps) of any one selector or intermediate result. Over a limit the query stops with
 * `ReadLimitError` (422) instead of building millions of samples.
 */
export class PromLimits {
  private samplesRead = 0;

  constructor(
    readonly maxSeries: number,
    readonly maxSamples: number,
  ) {}

  /** Samples that may still be read. */
  get samplesLeft(): number {
    return Math.max(0, this.maxSamples - this.samplesRead);
  }

  /** Counts samples read from storage. */
  read(samples: number): void {
    this.samplesRead += samples;
    if (this.samplesRead > this.maxSamples) throw this.tooManySamplesRead();
  }

  tooManySamplesRead(): ReadLimitError {
    return new ReadLimitError(
      `the query would read more than ${count(this.maxSamples)} samples (COGNIVE_QUERY_MAX_SAMPLES); add label matchers to the selectors, or shorten the range or the range vector`,
    );
  }

  /** Checks the series of one selector or result. */
  series(n: number): void {
    if (n > this.maxSeries) {
      throw new ReadLimitError(
        `a selector or expression matches more than ${count(this.maxSeries)} series (COGNIVE_QUERY_MAX_SERIES); add label matchers or aggregate, e.g. sum by (agent) (…)`,
      );
    }
  }

  /** Checks the points of one result: `series` series with `points` values each. */
  points(series: number, points: number): void {
    this.series(series);
    if (series * points > this.maxSamples) {
      throw new ReadLimitError(
        `a result of ${count(series)} series × ${count(points)} points is more than ${count(this.maxSamples)} points (COGNIVE_QUERY_MAX_SAMPLES); use a larger step, a shorter range or fewer series`,
      );
    }
  }
}
