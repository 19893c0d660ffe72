import { describe, expect, it } from 'vitest';
import { createLogger } from '../shared/logger.js';
import { ConnectorCache } from './connector-cache.js';
import type { BotConnector } from './connectors/types.js';

const log = createLogger({ level: 'silent' });

/** A connector that counts its closes. */
function connector(name: string, closed: string[], fail = false): BotConnector & { close(): Promise<void> } {
  return {
    turn: async () => ({ replies: [{ text: name }] }),
    close: async () => {
      closed.push(name);
      if (fail) throw new Error('close failed');
    },
  };
}

const bot = (name: string, version = '1') => ({ ccid: 't1', name, version });

describe('ConnectorCache', () => {
  it('keeps one connector per bot version and reuses it', () => {
    const closed: string[] = [];
    const cache = new ConnectorCache(log);
    let created = 0;
    const make = () => {
      created++;
      return connector('a', closed);
    };
    const first = cache.acquire(bot('a'), make);
    first.release();
    const again = cache.acquire(bot('a'), make);
    again.release();
    expect(again.connector).toBe(first.connector);
    expect(created).toBe(1);
    expect(closed).toEqual([]);
  });

  it("closes a bot's connector when a new version of the bot replaces it", async () => {
    const closed: string[] = [];
    const cache = new ConnectorCache(log);
    cache.acquire(bot('a', '1'), () => connector('a@1', closed)).release();
    const next = cache.acquire(bot('a', '2'), () => connector('a@2', closed));
    next.release();
    await cache.close();
    expect(closed).toEqual(['a@1', 'a@2']);
  });

  it('evicts the least recently used bot past its size, and closes it', async () => {
    const closed: string[] = [];
    const cache = new ConnectorCache(log, 2);
    cache.acquire(bot('a'), () => connector('a', closed)).release();
    cache.acquire(bot('b'), () => connector('b', closed)).release();
    // `a` is used again: `b` is now the least recently used.
    cache.acquire(bot('a'), () => connector('a-again', closed)).release();
    cache.acquire(bot('c'), () => connector('c', closed)).release();
    expect(cache.size).toBe(2);
    // Closing is asynchronous: let it run.
    await new Promise((r) => setImmediate(r));
    expect(closed).toEqual(['b']);
  });

  it('closes an evicted connector only once the turn running on it ends', async () => {
    const closed: string[] = [];
    const cache = new ConnectorCache(log, 1);
    const busy = cache.acquire(bot('a'), () => connector('a', closed));
    cache.acquire(bot('b'), () => connector('b', closed)).release();
    await new Promise((r) => setImmediate(r));
    expect(closed).toEqual([]);
    busy.release();
    busy.release(); // a second release changes nothing
    await cache.close();
    expect(closed).toEqual(['a', 'b']);
  });

  it('close() closes every connector once, survives a failing close and connectors without one', async () => {
    const closed: string[] = [];
    const cache = new ConnectorCache(log);
    cache.acquire(bot('a'), () => connector('a', closed, true)).release();
    cache.acquire(bot('b'), () => ({ turn: async () => ({ replies: [] }) })).release();
    const held = cache.acquire(bot('c'), () => connector('c', closed));
    await cache.close();
    held.release();
    await cache.close();
    expect(closed).toEqual(['a', 'c']);
    expect(cache.size).toBe(0);
  });
});
