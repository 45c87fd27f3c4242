import type { PropertyValues } from "lit";
import { CogniveElement } from "./base.ts";

/**
 * A part that fetches its data from the API, again whenever one of `reloadOn` changes and every
 * `refresh` seconds (0 = never). A newer fetch aborts the older one, and nothing runs while the
 * element is out of the document.
 */
export abstract class PollingElement extends CogniveElement {
  static override properties = {
    ...CogniveElement.properties,
    refresh: { type: Number },
  };

  declare refresh: number | undefined;

  /** Seconds between reloads when the `refresh` attribute is not set. */
  protected defaultRefresh = 60;
  /** Properties (besides `apiBase` and `token`) whose change means fetching again. */
  protected reloadOn: readonly string[] = [];

  /** Fetches and stores the data; `signal` aborts when a newer fetch starts or the element leaves. */
  protected abstract fetchData(signal: AbortSignal): Promise<void>;
  /** A failed fetch (not an aborted one). */
  protected abstract fetchFailed(err: unknown): void;

  private abort: AbortController | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;
  private needsLoad = true;

  override connectedCallback(): void {
    super.connectedCallback();
    this.needsLoad = true;
    this.requestUpdate();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.abort?.abort();
    this.abort = null;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  protected override updated(changed: PropertyValues): void {
    if (this.needsLoad || this.changedAny(changed, ["apiBase", "token", ...this.reloadOn])) {
      this.needsLoad = false;
      void this.reload();
      this.schedule();
    } else if (changed.has("refresh")) {
      this.schedule();
    }
  }

  /** Fetches again now; what is shown stays until the new data arrives. */
  async reload(): Promise<void> {
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    try {
      await this.fetchData(abort.signal);
    } catch (err) {
      if (!abort.signal.aborted) this.fetchFailed(err);
    } finally {
      if (this.abort === abort) this.fetchSettled();
    }
  }

  /** After the latest fetch finished, whichever way. */
  protected fetchSettled(): void {}

  private schedule(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    const seconds = this.refresh ?? this.defaultRefresh;
    if (seconds > 0 && this.isConnected) this.timer = setInterval(() => void this.reload(), seconds * 1000);
  }
}
