/**
 * The per-key token bucket: `capacity` requests per `frequency` seconds, in the shared state so that
 * every node draws from the same bucket. Every keyed answer carries the RateLimit-* headers (the
 * IETF draft's names); a refused one also carries Retry-After.
 */
import { AppError } from '../../shared/errors.js';
import type { HttpContext } from '../../shared/http/types.js';
import type { RateLimiter } from '../../shared/state/types.js';

export function responseHeaders(ctx: HttpContext): Record<string, string> {
  let h = ctx.state.responseHeaders as Record<string, string> | undefined;
  if (!h) {
    h = {};
    ctx.state.responseHeaders = h;
  }
  return h;
}

export async function applyKeyRateLimit(
  limiter: RateLimiter,
  ctx: HttpContext,
  key: { keyId: string; capacity: number; frequency: number },
): Promise<void> {
  const d = await limiter.consume(`ratelimit:apikey:${key.keyId}`, key.capacity, key.frequency * 1000);
  const h = responseHeaders(ctx);
  h['RateLimit-Limit'] = String(d.limit);
  h['RateLimit-Remaining'] = String(Math.max(0, d.remaining));
  h['RateLimit-Reset'] = String(Math.ceil(d.resetMs / 1000));
  if (!d.allowed) {
    const retryAfter = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
    h['Retry-After'] = String(retryAfter);
    throw new AppError('RATE_LIMITED', undefined, { retryAfter });
  }
}
