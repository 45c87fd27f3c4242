/** HTTP access to the Cognive query API, shared by every component. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export type QueryValue = string | number | boolean | undefined | null;

export class CogniveApi {
  /** `base` is the query server's origin (or a path prefix); "" means the page's own origin. */
  constructor(
    readonly base: string,
    readonly token: string | null = null,
  ) {}

  url(path: string, query: Record<string, QueryValue> = {}): string {
    const base = this.base.replace(/\/+$/, "");
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
    }
    const qs = params.toString();
    return `${base}${path}${qs ? `?${qs}` : ""}`;
  }

  headers(): Record<string, string> {
    const h: Record<string, string> = { accept: "application/json" };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    return h;
  }

  /** GET a JSON document from the native API (`path` starts with `/api/v1/`). */
  async get<T>(path: string, query: Record<string, QueryValue> = {}, signal?: AbortSignal): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.url(path, query), { headers: this.headers(), signal });
    } catch (err) {
      if ((err as Error).name === "AbortError") throw err;
      throw new ApiError(0, "unreachable", `Cannot reach Cognive at ${this.base || location.origin}: is it running?`);
    }
    const text = await res.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    if (!res.ok) {
      const e = (body as { error?: { code?: string; message?: string } } | null)?.error;
      throw new ApiError(res.status, e?.code ?? "http_error", e?.message ?? `HTTP ${res.status} from ${path}`);
    }
    return body as T;
  }

  /**
   * Server-sent events over fetch (EventSource cannot send the token header). Calls `onEvent` per
   * event until `signal` aborts; resolves when the stream ends.
   */
  async stream(
    path: string,
    onEvent: (event: { event: string; data: string; id?: string }) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const res = await fetch(this.url(path), { headers: { ...this.headers(), accept: "text/event-stream" }, signal });
    if (!res.ok || !res.body) throw new ApiError(res.status, "stream_failed", `HTTP ${res.status} from ${path}`);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let cut = buf.indexOf("\n\n");
      while (cut >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const ev = { event: "message", data: "", id: undefined as string | undefined };
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const i = line.indexOf(":");
          const field = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
          if (field === "event") ev.event = val;
          else if (field === "data") data.push(val);
          else if (field === "id") ev.id = val;
        }
        if (data.length > 0) onEvent({ ...ev, data: data.join("\n") });
        cut = buf.indexOf("\n\n");
      }
    }
  }
}
