/**
 * What governance takes from ingest: the spans that can spend or call tools, once they are durable.
 * Governance owns this contract; the pipeline fills it and imports nothing else of governance.
 */
export interface GovernedSpan {
  traceId: string;
  spanId: string;
  timeMs: number;
  agent: string;
  team: string;
  modelCall: boolean;
  /** The call's cost in integer nano-dollars (0 when unpriced). */
  costNanos: number;
  requestModel: string | null;
  responseModel: string | null;
  tool: string | null;
}

/**
 * Called with the governed spans of a request after the insert carrying them committed (and for a
 * retry of spans a failed insert left stored), off the request's answer. Must not throw or block.
 */
export type OnDurable = (spans: GovernedSpan[]) => void;

/**
 * The ingest seen from governance: a commit is visible in storage a moment before its spans reach
 * `OnDurable`, so whoever compares storage with the counters first waits for `handedOver`.
 */
export interface IngestHandover {
  /** Resolves once every request accepted so far has handed its durable spans over (or failed). */
  handedOver(): Promise<void>;
}
