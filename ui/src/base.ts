import { html, LitElement, type PropertyValues, type TemplateResult } from "lit";
import { ApiError, CogniveApi } from "./api.ts";
import { theme } from "./theme.ts";

/**
 * Base of every `<cognive-*>` element: the `api-base` and `token` attributes, the shared theme,
 * and loading / error / empty states that say what to do. Attributes set on an ancestor
 * `<cognive-app>` are inherited when a part sets none.
 */
export class CogniveElement extends LitElement {
  static override styles = [theme];
  static override properties = {
    apiBase: { type: String, attribute: "api-base" },
    token: { type: String },
  };

  declare apiBase: string | undefined;
  declare token: string | undefined;

  /** The API client for this element's attributes (or the nearest ancestor that has them). */
  get api(): CogniveApi {
    let base = this.apiBase;
    let token = this.token;
    if (base === undefined || token === undefined) {
      const host = findAncestorWithApi(this);
      base ??= host?.getAttribute("api-base") ?? undefined;
      token ??= host?.getAttribute("token") ?? undefined;
    }
    return new CogniveApi(base ?? "", token ?? null);
  }

  protected renderLoading(what = "Loading…"): TemplateResult {
    return html`<div class="state" role="status" aria-live="polite" part="state loading">${what}</div>`;
  }

  protected renderError(err: unknown): TemplateResult {
    return html`<div class="state error" role="alert" part="state error">${describeError(err)}</div>`;
  }

  protected renderEmpty(message: string): TemplateResult {
    return html`<div class="state" part="state empty">${message}</div>`;
  }

  /** Re-fetch when any of these properties changed (helper for subclasses' `updated`). */
  protected changedAny(changed: PropertyValues, names: string[]): boolean {
    return names.some((n) => changed.has(n));
  }
}

/** A sentence a user can act on. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 0) return err.message;
    if (err.status === 401 || err.status === 403) return `Not allowed (${err.status}): check the token attribute.`;
    if (err.status === 404) return `Not found: ${err.message}`;
    return `The query API answered ${err.status}: ${err.message}`;
  }
  return `Something went wrong: ${(err as Error)?.message ?? String(err)}`;
}

function findAncestorWithApi(el: Element): Element | null {
  let node: Node | null = el;
  while (node) {
    const parent: Node | null = (node as Element).parentNode ?? null;
    const next: Node | null = parent instanceof ShadowRoot ? parent.host : parent;
    if (next instanceof Element && (next.hasAttribute("api-base") || next.hasAttribute("token"))) return next;
    node = next;
  }
  return null;
}
