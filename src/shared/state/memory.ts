/** In-process drivers: the embedded default. Correct for one node; they share nothing across processes. */
import type {
  KeyValueStore,
  PubSub,
  RateDecision,
  RateLimiter,
  SharedState,
  StateHealth,
  Unsubscribe,
} from './types.js';

interface Entry {
  value: string;
  expiresAt: number;
}

export class MemoryKeyValueStore implements KeyValueStore {
  private readonly map = new Map<string, Entry>();
  private sweep: NodeJS.Timeout | undefined;

  constructor() {
    this.sweep = setInterval(() => this.evict(), 30_000);
    this.sweep.unref();
  }

  private live(key: string): Entry | undefined {
    const e = this.map.get(key);
    if (e && e.expiresAt <= Date.now()) {
      this.map.delete(key);
      return undefined;
    }
    return e;
  }

  private evict(): void {
    const now = Date.now();
    for (const [k, e] of this.map) if (e.expiresAt <= now) this.map.delete(k);
  }

  async get(key: string): Promise<string | null> {
    return this.live(key)?.value ?? null;
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    checkTtl(ttlMs);
    this.map.set(key, { value, expiresAt: ttlMs ? Date.now() + ttlMs : Number.POSITIVE_INFINITY });
  }

  async setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    checkTtl(ttlMs);
    if (this.live(key)) return false;
    await this.set(key, value, ttlMs);
    return true;
  }

  async delete(key: string): Promise<boolean> {
    const had = this.live(key) !== undefined;
    this.map.delete(key);
    return had;
  }

  async increment(key: string, by = 1, ttlMs?: number): Promise<number> {
    checkIncrement(by);
    checkTtl(ttlMs);
    const e = this.live(key);
    if (e && !/^-?\d+$/.test(e.value)) throw new Error(`value at ${key} is not an integer`);
    const n = (e ? Number(e.value) : 0) + by;
    if (e) e.value = String(n);
    else await this.set(key, String(n), ttlMs);
    return n;
  }

  close(): void {
    if (this.sweep) clearInterval(this.sweep);
    this.sweep = undefined;
    this.map.clear();
  }
}

/** Both drivers refuse the same arguments, before touching anything. */
export function checkTtl(ttlMs: number | undefined): void {
  if (ttlMs !== undefined && !(Number.isFinite(ttlMs) && ttlMs >= 0)) {
    throw new RangeError(`ttlMs must be a positive number, got ${ttlMs}`);
  }
}

export function checkIncrement(by: number): void {
  if (!Number.isSafeInteger(by)) throw new RangeError(`increment must be an integer, got ${by}`);
}

export function checkBucket(capacity: number, periodMs: number, cost: number): void {
  if (!(Number.isFinite(capacity) && capacity > 0))
    throw new RangeError(`capacity must be positive, got ${capacity}`);
  if (!(Number.isFinite(periodMs) && periodMs > 0))
    throw new RangeError(`periodMs must be positive, got ${periodMs}`);
  if (!(Number.isFinite(cost) && cost >= 0)) throw new RangeError(`cost must not be negative, got ${cost}`);
}

/** The token bucket, computed the same way as the Redis script. */
export function takeTokens(
  bucket: { tokens: number; at: number } | undefined,
  now: number,
  capacity: number,
  periodMs: number,
  cost: number,
): { bucket: { tokens: number; at: number }; decision: RateDecision } {
  const rate = capacity / periodMs; // tokens per ms
  let tokens = bucket ? Math.min(capacity, bucket.tokens + Math.max(0, now - bucket.at) * rate) : capacity;
  const allowed = tokens >= cost;
  if (allowed) tokens -= cost;
  const retryAfterMs = allowed ? 0 : Math.ceil((cost - tokens) / rate);
  const resetMs = Math.ceil((capacity - tokens) / rate);
  return {
    bucket: { tokens, at: now },
    decision: { allowed, remaining: Math.floor(tokens), limit: capacity, retryAfterMs, resetMs },
  };
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  async consume(key: string, capacity: number, periodMs: number, cost = 1): Promise<RateDecision> {
    checkBucket(capacity, periodMs, cost);
    const { bucket, decision } = takeTokens(this.buckets.get(key), Date.now(), capacity, periodMs, cost);
    this.buckets.set(key, bucket);
    if (this.buckets.size > 100_000) {
      // Full buckets carry no information: forget them.
      for (const [k, b] of this.buckets) if (b.tokens >= capacity) this.buckets.delete(k);
    }
    return decision;
  }
}

export class MemoryPubSub implements PubSub {
  private readonly subs = new Map<string, Set<(m: string) => void>>();

  async publish(channel: string, message: string): Promise<void> {
    for (const fn of this.subs.get(channel) ?? []) {
      queueMicrotask(() => {
        try {
          fn(message);
        } catch {
          // A subscriber's failure is its own.
        }
      });
    }
  }

  async subscribe(channel: string, onMessage: (m: string) => void): Promise<Unsubscribe> {
    const set = this.subs.get(channel) ?? new Set<(m: string) => void>();
    this.subs.set(channel, set);
    const fn = (m: string) => onMessage(m);
    set.add(fn);
    return async () => {
      set.delete(fn);
      // Only this set: after it emptied once, a later subscriber has a new one.
      if (set.size === 0 && this.subs.get(channel) === set) this.subs.delete(channel);
    };
  }
}

export function createMemoryState(): SharedState {
  const kv = new MemoryKeyValueStore();
  const health: StateHealth = { state: 'READY', ready: true, ping: async () => 0 };
  return {
    kind: 'memory',
    kv,
    rateLimiter: new MemoryRateLimiter(),
    pubsub: new MemoryPubSub(),
    health,
    async start() {},
    async close() {
      kv.close();
    },
  };
}
