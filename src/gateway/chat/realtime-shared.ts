/**
 * What both socket.io namespaces share: per-socket token buckets, the error body of a refusal, and
 * the handler wrapper that guarantees the ack contract (exactly one ack, `{ ok: true, … }` or
 * `{ ok: false, error }`, nothing thrown escapes).
 */
import type { Socket } from 'socket.io';
import type { NexusConfig } from '../../shared/config.js';
import { AppError, toAppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { ErrorBody } from './events.js';

/** A token bucket for one socket (sockets live on one node, so local state is exact). */
export class LocalBucket {
  private tokens: number;
  private at = performance.now();
  constructor(
    private readonly capacity: number,
    private readonly perSecond: number,
  ) {
    this.tokens = capacity;
  }
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export interface Buckets {
  messages: LocalBucket;
  other: LocalBucket;
  typing: LocalBucket;
}

/** A socket's buckets: messages, everything else that costs a round trip, typing. */
export function buckets(c: NexusConfig['chat']): Buckets {
  return {
    messages: new LocalBucket(c.socketMessageBurst, c.socketMessagesPerSecond),
    // Everything else that costs a database round trip shares a second, more generous bucket.
    other: new LocalBucket(c.socketMessageBurst * 2, c.socketMessagesPerSecond * 2),
    typing: new LocalBucket(Math.max(1, Math.ceil(c.typingPerSecond)), c.typingPerSecond),
  };
}

export const errorBody = (err: AppError): ErrorBody => ({
  code: err.code,
  name: err.errorName,
  message: err.message,
  retryable: err.retryable,
});

/** The error a namespace middleware hands to socket.io: the client reads `err.data`. */
export function connectError(err: unknown): Error {
  const e = toAppError(err);
  const out = new Error(e.message) as Error & { data: ErrorBody };
  out.data = errorBody(e);
  return out;
}

/** Events with an ack: the ack's success data, without `ok`. */
type AckedEvents<L> = {
  [E in keyof L & string]: L[E] extends (p: never, ack: (a: infer A) => void) => void ? E : never;
}[keyof L & string];
type AckData<L, E extends keyof L> = L[E] extends (p: never, ack: (a: infer A) => void) => void
  ? Omit<Extract<A, { ok: true }>, 'ok'>
  : never;

/**
 * The registrar of a socket's acked client events (`L`: the namespace's client-to-server map).
 * A handler validates its payload itself (it arrives as `unknown`, for the handler's schema); the
 * registrar guarantees the contract: the ack (when the client asked for one) is called exactly once
 * with `{ ok: true, ... }` or `{ ok: false, error }`, and nothing thrown escapes. What a handler
 * answers is checked against the event's ack type.
 */
export function acked<L extends object>(socket: Socket<any, any, any, any>, log: Logger) {
  // The typed `on` wants each event's own listener; these take anything and validate it.
  const on: (event: string, listener: (...args: unknown[]) => void) => unknown = (socket as Socket).on.bind(
    socket,
  );
  return <E extends AckedEvents<L>>(
    event: E,
    bucket: LocalBucket,
    fn: (payload: unknown) => Promise<AckData<L, E> | undefined>,
  ): void => {
    on(event, (...args: unknown[]) => {
      const last = args[args.length - 1];
      const ack = typeof last === 'function' ? (last as (a: unknown) => void) : undefined;
      const payload = ack ? (args.length > 1 ? args[0] : undefined) : args[0];
      if (!bucket.take()) {
        ack?.({ ok: false, error: errorBody(new AppError('MESSAGE_RATE_LIMITED')) });
        return;
      }
      fn(payload).then(
        (r) => ack?.({ ok: true, ...(r ?? {}) }),
        (err) => {
          const e = toAppError(err);
          if (e.http >= 500 && e.errorName !== 'UNAVAILABLE')
            log.error({ err, event }, 'socket event failed');
          ack?.({ ok: false, error: errorBody(e) });
        },
      );
    });
  };
}

/** Unknown events get an error ack; floods of anything are cut by the socket's bucket. */
export function refuseUnknown(
  socket: Socket<any, any, any, any>,
  known: ReadonlySet<string>,
  bucket: LocalBucket,
): void {
  socket.onAny((event: unknown, ...args: unknown[]) => {
    if (typeof event === 'string' && known.has(event)) return;
    const last = args[args.length - 1];
    if (!bucket.take()) return;
    if (typeof last === 'function') {
      (last as (a: unknown) => void)({ ok: false, error: errorBody(new AppError('UNKNOWN_EVENT')) });
    }
  });
}
