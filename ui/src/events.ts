/**
 * The events the parts fire (bubbling, composed: they cross shadow roots, so a page can listen on
 * `document`). Listeners get typed details: `el.addEventListener("cognive-trace-select", (e) => e.detail.traceId)`.
 */

/** `<cognive-trace-list>`: a trace was chosen (when the list has no `href-template`). */
export interface TraceSelectDetail {
  traceId: string;
}

/** `<cognive-agent-table>`: an agent's row was chosen. */
export interface AgentSelectDetail {
  agent: string;
}

/** `<cognive-trace-view>`: a span was selected in the shown trace. */
export interface SpanSelectDetail {
  traceId: string;
  spanId: string;
}

export interface CogniveEventMap {
  "cognive-trace-select": CustomEvent<TraceSelectDetail>;
  "cognive-agent-select": CustomEvent<AgentSelectDetail>;
  "cognive-span-select": CustomEvent<SpanSelectDetail>;
}

/** Fires one of the events above from `el`, bubbling out of its shadow root. */
export function fire<K extends keyof CogniveEventMap>(
  el: HTMLElement,
  type: K,
  detail: CogniveEventMap[K]["detail"],
): void {
  el.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
}

// The events bubble to the document and window, where pages often listen.
declare global {
  interface HTMLElementEventMap extends CogniveEventMap {}
  interface DocumentEventMap extends CogniveEventMap {}
  interface WindowEventMap extends CogniveEventMap {}
}
