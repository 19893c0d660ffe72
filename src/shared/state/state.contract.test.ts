/**
 * One contract for every SharedState driver: the in-process driver, the Redis driver on the real
 * Redis (TEST_REDIS_NODES) and the Redis driver on a three-node Redis Cluster started here.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realEngines } from '../../../test/helpers/engines.js';
import {
  type RedisClusterServers,
  redisServerAvailable,
  startRedisCluster,
} from '../../../test/helpers/redis-server.js';
import { createLogger } from '../logger.js';
import { createMemoryState } from './memory.js';
import { createRedisState } from './redis.js';
import type { SharedState } from './types.js';

const log = createLogger({ level: 'silent' });

interface Driver {
  name: string;
  /** Creates a state; `peer` is a second instance sharing the same store (another node), or the same one. */
  open(): Promise<{ state: SharedState; peer: SharedState; close(): Promise<void> }>;
  /** Whether two instances are separate nodes sharing one store. */
  shared: boolean;
}

let cluster: RedisClusterServers | undefined;

function redisDriver(name: string, nodes: () => string, clusterMode: boolean): Driver {
  return {
    name,
    shared: true,
    async open() {
      const keyPrefix = `t${randomBytes(5).toString('hex')}:`;
      const make = () =>
        createRedisState({
          nodes: nodes(),
          cluster: clusterMode,
          tls: false,
          password: '',
          keyPrefix,
          log,
        });
      const state = make();
      const peer = make();
      await Promise.all([state.start(), peer.start()]);
      return {
        state,
        peer,
        close: async () => {
          await Promise.all([state.close(), peer.close()]);
        },
      };
    },
  };
}

const drivers: Driver[] = [
  {
    name: 'memory',
    shared: false,
    async open() {
      const state = createMemoryState();
      await state.start();
      return { state, peer: state, close: () => state.close() };
    },
  },
];
const real = realEngines();
if (real) drivers.push(redisDriver('redis', () => real.redis, false));
const withCluster = redisServerAvailable();
if (withCluster) drivers.push(redisDriver('redis-cluster', () => cluster!.nodes, true));

beforeAll(async () => {
  if (withCluster) cluster = await startRedisCluster();
});

afterAll(async () => {
  await cluster?.destroy();
});

/** Polls `check` until it is true, at most `ms`. Expiry is time itself: there is no event to await. */
async function eventually(check: () => Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(drivers)('SharedState contract: $name', (driver) => {
  let state: SharedState;
  let peer: SharedState;
  let close: () => Promise<void>;
  const key = () => `k-${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    ({ state, peer, close } = await driver.open());
  });

  afterAll(async () => {
    await close?.();
  });

  describe('KeyValueStore', () => {
    it('sets, reads, overwrites and deletes', async () => {
      const k = key();
      expect(await state.kv.get(k)).toBeNull();
      await state.kv.set(k, 'one');
      expect(await peer.kv.get(k)).toBe('one');
      await state.kv.set(k, 'two');
      expect(await state.kv.get(k)).toBe('two');
      expect(await state.kv.delete(k)).toBe(true);
      expect(await state.kv.delete(k)).toBe(false);
      expect(await state.kv.get(k)).toBeNull();
    });

    it('keeps text as it is', async () => {
      const k = key();
      const value = 'ünïcödé \u0000 {"json":true} 🎉';
      await state.kv.set(k, value);
      expect(await state.kv.get(k)).toBe(value);
    });

    it('expires a value after its TTL', async () => {
      const k = key();
      await state.kv.set(k, 'v', 150);
      expect(await state.kv.get(k)).toBe('v');
      await eventually(async () => (await state.kv.get(k)) === null);
    });

    it('a set without TTL makes the value permanent again', async () => {
      const k = key();
      await state.kv.set(k, 'v', 50);
      await state.kv.set(k, 'w');
      await pause(200);
      expect(await state.kv.get(k)).toBe('w');
    });

    it('setIfAbsent: exactly one of many concurrent callers wins, on any node', async () => {
      const k = key();
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? peer : state).kv.setIfAbsent(k, `v${i}`, 10_000)),
      );
      const winners = results.flatMap((won, i) => (won ? [i] : []));
      expect(winners).toHaveLength(1);
      expect(await state.kv.get(k)).toBe(`v${winners[0]}`);
    });

    it('setIfAbsent succeeds again once the value expired', async () => {
      const k = key();
      expect(await state.kv.setIfAbsent(k, 'a', 100)).toBe(true);
      expect(await state.kv.setIfAbsent(k, 'b', 100)).toBe(false);
      await eventually(async () => state.kv.setIfAbsent(k, 'c'));
      expect(await state.kv.get(k)).toBe('c');
    });

    it('increment starts at 0, adds, subtracts and counts concurrent calls exactly', async () => {
      const k = key();
      expect(await state.kv.increment(k)).toBe(1);
      expect(await state.kv.increment(k, 5)).toBe(6);
      expect(await state.kv.increment(k, -2)).toBe(4);
      const c = key();
      const all = await Promise.all(
        Array.from({ length: 60 }, (_, i) => (i % 2 ? peer : state).kv.increment(c)),
      );
      expect(new Set(all).size).toBe(60);
      expect(Math.max(...all)).toBe(60);
      expect(await state.kv.get(c)).toBe('60');
    });

    it('increment applies the TTL only when it creates the value', async () => {
      const created = key();
      expect(await state.kv.increment(created, 1, 150)).toBe(1);
      await eventually(async () => (await state.kv.get(created)) === null);

      const existing = key();
      await state.kv.increment(existing);
      await state.kv.increment(existing, 1, 50);
      await pause(200);
      expect(await state.kv.get(existing)).toBe('2');
    });

    it('refuses to increment a value that is not an integer, and leaves it', async () => {
      const k = key();
      await state.kv.set(k, 'text');
      await expect(state.kv.increment(k)).rejects.toThrow();
      expect(await state.kv.get(k)).toBe('text');
    });

    it('refuses bad arguments before changing anything', async () => {
      const k = key();
      await expect(state.kv.set(k, 'v', -1)).rejects.toThrow(RangeError);
      await expect(state.kv.setIfAbsent(k, 'v', Number.NaN)).rejects.toThrow(RangeError);
      await expect(state.kv.increment(k, 1.5)).rejects.toThrow(RangeError);
      expect(await state.kv.get(k)).toBeNull();
    });
  });

  describe('RateLimiter', () => {
    it('a fresh bucket allows and reports sane values', async () => {
      const d = await state.rateLimiter.consume(key(), 10, 60_000);
      expect(d).toEqual({ allowed: true, remaining: 9, limit: 10, retryAfterMs: 0, resetMs: 6000 });
    });

    it('honours the capacity under concurrency across nodes', async () => {
      const k = key();
      const decisions = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (i % 2 ? peer : state).rateLimiter.consume(k, 12, 60_000)),
      );
      const allowed = decisions.filter((d) => d.allowed);
      expect(allowed).toHaveLength(12);
      // Each allowed call took its own token: the remaining counts are 11..0, each once.
      expect(allowed.map((d) => d.remaining).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 12 }, (_, i) => i),
      );
      for (const d of decisions.filter((x) => !x.allowed)) {
        expect(d.remaining).toBe(0);
        expect(d.limit).toBe(12);
        // One token comes back every 5 s; the wait is never longer than that or negative.
        expect(d.retryAfterMs).toBeGreaterThan(0);
        expect(d.retryAfterMs).toBeLessThanOrEqual(5000);
        expect(d.resetMs).toBeGreaterThan(55_000);
        expect(d.resetMs).toBeLessThanOrEqual(60_000);
      }
    });

    it('refills over time, as retryAfterMs says', async () => {
      const k = key();
      for (let i = 0; i < 5; i++) expect((await state.rateLimiter.consume(k, 5, 500)).allowed).toBe(true);
      const denied = await peer.rateLimiter.consume(k, 5, 500);
      expect(denied.allowed).toBe(false);
      expect(denied.retryAfterMs).toBeGreaterThan(0);
      expect(denied.retryAfterMs).toBeLessThanOrEqual(100);
      await pause(denied.retryAfterMs);
      // A token is back once retryAfterMs has passed (a little slack for the store's clock).
      await eventually(async () => (await state.rateLimiter.consume(k, 5, 500)).allowed, 1000);
      await pause(600);
      const full = await state.rateLimiter.consume(k, 5, 500);
      expect(full.allowed).toBe(true);
      expect(full.remaining).toBe(4);
    });

    it('takes a cost of several tokens, and never more than it has', async () => {
      const k = key();
      expect(await state.rateLimiter.consume(k, 10, 10_000, 4)).toMatchObject({
        allowed: true,
        remaining: 6,
      });
      expect(await state.rateLimiter.consume(k, 10, 10_000, 4)).toMatchObject({
        allowed: true,
        remaining: 2,
      });
      const no = await state.rateLimiter.consume(k, 10, 10_000, 4);
      expect(no.allowed).toBe(false);
      expect(no.remaining).toBe(2);
      // Two tokens are missing at one per second.
      expect(no.retryAfterMs).toBeGreaterThan(1000);
      expect(no.retryAfterMs).toBeLessThanOrEqual(2000);
    });

    it('keeps buckets apart by key', async () => {
      const a = key();
      const b = key();
      await state.rateLimiter.consume(a, 1, 60_000);
      expect((await state.rateLimiter.consume(a, 1, 60_000)).allowed).toBe(false);
      expect((await state.rateLimiter.consume(b, 1, 60_000)).allowed).toBe(true);
    });

    it('refuses a bad capacity, period or cost', async () => {
      await expect(state.rateLimiter.consume(key(), 0, 1000)).rejects.toThrow(RangeError);
      await expect(state.rateLimiter.consume(key(), 10, 0)).rejects.toThrow(RangeError);
      await expect(state.rateLimiter.consume(key(), 10, 1000, -1)).rejects.toThrow(RangeError);
    });
  });

  describe('PubSub', () => {
    function inbox() {
      const got: string[] = [];
      const waiters: Array<{ n: number; resolve: () => void }> = [];
      return {
        got,
        fn: (m: string) => {
          got.push(m);
          for (const w of [...waiters]) {
            if (got.length >= w.n) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve();
            }
          }
        },
        /** Resolves once `n` messages arrived. */
        until: (n: number) =>
          got.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
      };
    }

    it('delivers to every subscriber, from any node, in order', async () => {
      const ch = key();
      const a = inbox();
      const b = inbox();
      const unA = await state.pubsub.subscribe(ch, a.fn);
      const unB = await peer.pubsub.subscribe(ch, b.fn);
      for (let i = 0; i < 20; i++) await (i % 2 ? peer : state).pubsub.publish(ch, `m${i}`);
      await Promise.all([a.until(20), b.until(20)]);
      const expected = Array.from({ length: 20 }, (_, i) => `m${i}`);
      expect(a.got).toEqual(expected);
      expect(b.got).toEqual(expected);
      await unA();
      await unB();
    });

    it('stops delivering after unsubscribe, to that subscriber only', async () => {
      const ch = key();
      const probe = key();
      const a = inbox();
      const b = inbox();
      const p = inbox();
      const unA = await state.pubsub.subscribe(ch, a.fn);
      const unB = await state.pubsub.subscribe(ch, b.fn);
      const unP = await state.pubsub.subscribe(probe, p.fn);
      await peer.pubsub.publish(ch, 'first');
      await Promise.all([a.until(1), b.until(1)]);
      await unA();
      await unA(); // twice is harmless
      await peer.pubsub.publish(ch, 'second');
      await b.until(2);
      await unB();
      await peer.pubsub.publish(ch, 'third');
      // Messages arrive in order on one connection: once the probe is in, 'third' would have been too.
      await peer.pubsub.publish(probe, 'probe');
      await p.until(1);
      expect(a.got).toEqual(['first']);
      expect(b.got).toEqual(['first', 'second']);
      await unP();
    });

    it('subscribes again after everyone left a channel', async () => {
      const ch = key();
      const a = inbox();
      const unA = await state.pubsub.subscribe(ch, a.fn);
      await unA();
      const b = inbox();
      const unB = await state.pubsub.subscribe(ch, b.fn);
      await unA();
      await peer.pubsub.publish(ch, 'x');
      await b.until(1);
      expect(a.got).toEqual([]);
      await unB();
    });

    it('a throwing subscriber does not stop the others', async () => {
      const ch = key();
      const b = inbox();
      const unA = await state.pubsub.subscribe(ch, () => {
        throw new Error('subscriber bug');
      });
      const unB = await state.pubsub.subscribe(ch, b.fn);
      await state.pubsub.publish(ch, 'x');
      await state.pubsub.publish(ch, 'y');
      await b.until(2);
      expect(b.got).toEqual(['x', 'y']);
      await unA();
      await unB();
    });
  });

  describe('health', () => {
    it('is ready and answers a ping', async () => {
      expect(state.health.ready).toBe(true);
      expect(state.health.state).toBe('READY');
      const ms = await state.health.ping();
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(1000);
    });
  });

  // Only drivers whose instances share a store can show that prefixes keep them apart.
  if (driver.shared) {
    it('instances with another key prefix share nothing', async () => {
      const other = await driver.open();
      try {
        const k = key();
        await state.kv.set(k, 'mine');
        expect(await other.state.kv.get(k)).toBeNull();
        await state.rateLimiter.consume(k, 1, 60_000);
        expect((await other.state.rateLimiter.consume(k, 1, 60_000)).allowed).toBe(true);
        const got: string[] = [];
        await other.state.pubsub.subscribe(k, (m) => got.push(m));
        let arrived!: () => void;
        const probeIn = new Promise<void>((resolve) => {
          arrived = resolve;
        });
        await other.state.pubsub.subscribe('probe', () => arrived());
        await state.pubsub.publish(k, 'not for you');
        await other.peer.pubsub.publish('probe', 'p');
        await probeIn;
        expect(got).toEqual([]);
      } finally {
        await other.close();
      }
    });
  }

  it('close is idempotent', async () => {
    const extra = await driver.open();
    await extra.close();
    await extra.close();
    await extra.state.close();
  });
});
