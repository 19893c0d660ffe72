/**
 * The bot connectors athena keeps between turns (a gRPC channel, an AWS client), one per bot and
 * version, and closed when they leave:
 *
 * - a bot's new version (its service changed) replaces the old connector;
 * - past `max` bots, the least recently used one goes;
 * - `close()` (athena stopping) closes them all.
 *
 * A connector evicted while a turn is running on it is closed once that turn ends, not under it.
 */
import type { BotConnector } from './connectors/types.js';
import type { Logger } from '../shared/logger.js';

interface Entry {
  version: string;
  connector: BotConnector;
  inflight: number;
  evicted: boolean;
  closed: boolean;
}

/** A lease on a cached connector: `release()` when the turn is over. */
export interface ConnectorLease {
  connector: BotConnector;
  release(): void;
}

export class ConnectorCache {
  /** By `ccid/name`; Map order is least recently used first. */
  private readonly entries = new Map<string, Entry>();
  private readonly closing = new Set<Promise<void>>();

  constructor(
    private readonly log: Logger,
    private readonly max = 1000,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The connector of this bot version, created when there is none; the turn holds it until released. */
  acquire(bot: { ccid: string; name: string; version: string }, create: () => BotConnector): ConnectorLease {
    const key = `${bot.ccid}/${bot.name}`;
    let entry = this.entries.get(key);
    if (entry && entry.version !== bot.version) {
      this.evict(key, entry);
      entry = undefined;
    }
    if (entry) this.entries.delete(key);
    else {
      entry = { version: bot.version, connector: create(), inflight: 0, evicted: false, closed: false };
      while (this.entries.size >= this.max) {
        const [oldest, e] = this.entries.entries().next().value as [string, Entry];
        this.evict(oldest, e);
      }
    }
    this.entries.set(key, entry);
    entry.inflight++;
    const held = entry;
    let released = false;
    return {
      connector: held.connector,
      release: () => {
        if (released) return;
        released = true;
        held.inflight--;
        if (held.evicted && held.inflight === 0) this.shut(held);
      },
    };
  }

  /** Closes every connector, busy or not (athena has stopped taking turns); idempotent. */
  async close(): Promise<void> {
    for (const [key, e] of [...this.entries]) {
      this.entries.delete(key);
      e.evicted = true;
      this.shut(e);
    }
    await Promise.all([...this.closing]);
  }

  private evict(key: string, e: Entry): void {
    this.entries.delete(key);
    e.evicted = true;
    if (e.inflight === 0) this.shut(e);
  }

  private shut(e: Entry): void {
    // Once only, even when close() comes after an eviction.
    if (e.closed) return;
    e.closed = true;
    const close = (e.connector as { close?: () => Promise<void> | void }).close;
    if (typeof close !== 'function') return;
    const p = Promise.resolve()
      .then(() => close.call(e.connector))
      .catch((err: unknown) =>
        this.log.warn({ err: (err as Error)?.message }, 'closing a bot connector failed'),
      )
      .finally(() => this.closing.delete(p));
    this.closing.add(p);
  }
}
