import type { Logger } from '../logger.js';

export interface HttpContext {
  readonly method: string;
  readonly path: string;
  readonly params: Record<string, string>;
  readonly query: URLSearchParams;
  /** Lower-case header names. */
  readonly headers: Record<string, string>;
  readonly rawBody: Buffer;
  /** The parsed body (JSON or form), `undefined` when empty or raw. */
  readonly body: unknown;
  readonly ip: string;
  readonly traceId: string;
  readonly operationId: string;
  readonly log: Logger;
  /** Set by authentication so that later handlers and logs can use it. */
  state: Record<string, unknown>;
}

/** Data wrapped in the `{ status, data, operationId }` envelope. */
export interface EnvelopeReply {
  status?: number;
  data?: unknown;
  headers?: Record<string, string>;
}

/** A body sent as it is (health, metrics, pages, vendor-specific answers). */
export interface RawReply {
  status?: number;
  raw: string | Buffer;
  contentType: string;
  headers?: Record<string, string>;
}

export type Reply = EnvelopeReply | RawReply;

export function isRaw(r: Reply): r is RawReply {
  return (r as RawReply).raw !== undefined;
}
