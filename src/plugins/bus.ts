/**
 * The plugin bus. Every conversation event is published here. Two kinds of subscriber:
 *
 * - durable ones (`plan`): called INSIDE the transaction that produces the event, they return outbox
 *   items, so a delivery that must not be lost exists exactly when its cause does;
 * - live ones (`subscribe`): called after the commit, best effort, each isolated from the others
 *   (a throwing or hanging subscriber cannot hold up the publisher or its peers).
 *
 * Subscribers filter by event type, tenant and channel type. Plugins declare theirs
 * (`definePlugin({ …, subscribe })`), checked at load by `subscriptionProblems`.
 *
 * A durable subscriber may change state of its own in the transaction and publish the events of
 * that change (`publishInTx` with the same transaction, from inside its planner): they follow the
 * event that caused them to live subscribers, after the same commit.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { z } from 'zod';
import type { Queryable } from '../shared/db/pool.js';
import type { Logger } from '../shared/logger.js';
import { counter, type Registry } from '../shared/metrics.js';
import type { Outbox, OutboxItem } from './outbox/outbox.js';
import {
  BUS_EVENT_TYPES,
  type BusEvent,
  type BusEventType,
  CHANNEL_TYPES,
  type ChannelType,
  type Subscription,
} from './types.js';

export interface EventFilter {
  types?: BusEventType[];
  ccid?: string;
  /** Any of these tenants. */
  ccids?: string[];
  channelTypes?: ChannelType[];
}

export type Planner = (event: BusEvent, q: Queryable) => OutboxItem[] | Promise<OutboxItem[]>;
export type LiveHandler = (event: BusEvent) => void | Promise<void>;

interface Sub<T> {
  name: string;
  filter: EventFilter;
  fn: T;
}

export function matches(filter: EventFilter, e: BusEvent): boolean {
  if (filter.types && !filter.types.includes(e.type)) return false;
  if (filter.ccid && filter.ccid !== e.ccid) return false;
  if (filter.ccids && !filter.ccids.includes(e.ccid)) return false;
  if (filter.channelTypes && (!e.channelType || !filter.channelTypes.includes(e.channelType))) return false;
  return true;
}

const subscriptionSchema = z
  .object({
    events: z
      .array(z.enum(BUS_EVENT_TYPES as [BusEventType, ...BusEventType[]]))
      .nonempty()
      .optional(),
    tenants: z.array(z.string().min(1)).nonempty().optional(),
    channelTypes: z
      .array(z.enum(CHANNEL_TYPES as [ChannelType, ...ChannelType[]]))
      .nonempty()
      .optional(),
  })
  .strict();

/**
 * What is wrong with a plugin's `subscribe`, one message per problem (none: it is fine or absent).
 * Only `webhook` plugins receive bus events; an empty list would silence the plugin for good, so
 * it is refused rather than taken to mean everything.
 */
export function subscriptionProblems(kind: unknown, subscribe: unknown): string[] {
  if (subscribe === undefined) return [];
  if (kind !== 'webhook') return [`subscribe: only webhook plugins receive bus events, not ${String(kind)}`];
  const r = subscriptionSchema.safeParse(subscribe);
  if (r.success) return [];
  return r.error.issues.map((i) => `subscribe${i.path.map((p) => `.${p}`).join('')}: ${i.message}`);
}

/** The bus filter of a (checked) subscription. */
export function subscriptionFilter(s: Subscription | undefined): EventFilter {
  return {
    ...(s?.events ? { types: s.events } : {}),
    ...(s?.tenants ? { ccids: s.tenants } : {}),
    ...(s?.channelTypes ? { channelTypes: s.channelTypes } : {}),
  };
}

export class EventBus {
  private readonly planners: Sub<Planner>[] = [];
  private readonly live: Sub<LiveHandler>[] = [];
  private readonly m;
  /** The event whose planners are running (so that what they publish follows it). */
  private readonly planning = new AsyncLocalStorage<BusEvent>();
  /** Events published by the planners of an event, with their enqueued count, until it is announced. */
  private readonly followUps = new WeakMap<BusEvent, { events: BusEvent[]; enqueued: number }>();

  constructor(
    private readonly outbox: Outbox,
    private readonly log: Logger,
    registry?: Registry,
    private readonly liveTimeoutMs = 5000,
  ) {
    this.m = registry
      ? {
          published: counter(registry, 'nexus_bus_events_total', 'Events published on the plugin bus.', [
            'type',
          ]),
          failures: counter(
            registry,
            'nexus_bus_subscriber_failures_total',
            'Live subscribers that threw or timed out.',
            ['subscriber'],
          ),
        }
      : undefined;
  }

  /** A durable subscriber: turns events into outbox items inside the producing transaction. */
  plan(name: string, filter: EventFilter, planner: Planner): () => void {
    const sub = { name, filter, fn: planner };
    this.planners.push(sub);
    return () => this.planners.splice(this.planners.indexOf(sub), 1);
  }

  hasPlanners(): boolean {
    return this.planners.length > 0;
  }

  /** A live subscriber: called after commit, isolated, best effort. */
  subscribe(name: string, filter: EventFilter, handler: LiveHandler): () => void {
    const sub = { name, filter, fn: handler };
    this.live.push(sub);
    return () => this.live.splice(this.live.indexOf(sub), 1);
  }

  /**
   * Call inside the producing transaction: writes the outbox items of every durable subscriber.
   * A planner that throws fails the transaction: its cause must not commit without its deliveries.
   */
  async publishInTx(q: Queryable, events: BusEvent[]): Promise<number> {
    const items: OutboxItem[] = [];
    for (const e of events) {
      for (const p of this.planners) {
        if (matches(p.filter, e)) items.push(...(await this.planning.run(e, () => p.fn(e, q))));
      }
    }
    if (items.length) await this.outbox.enqueue(q, items);
    const cause = this.planning.getStore();
    if (cause) {
      const f = this.followUps.get(cause) ?? { events: [], enqueued: 0 };
      this.followUps.set(cause, { events: [...f.events, ...events], enqueued: f.enqueued + items.length });
    }
    return items.length;
  }

  /** Call after the commit: wakes the outbox when needed and notifies live subscribers. */
  published(events: BusEvent[], enqueued: number): void {
    if (enqueued > 0) this.outbox.wake();
    for (const e of events) {
      this.m?.published.inc({ type: e.type });
      for (const s of this.live) {
        if (!matches(s.filter, e)) continue;
        void this.runLive(s, e);
      }
      const f = this.followUps.get(e);
      if (f) {
        this.followUps.delete(e);
        this.published(f.events, f.enqueued);
      }
    }
  }

  /** Both steps for a producer that has no transaction of its own. */
  async publish(
    db: { tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> },
    events: BusEvent[],
  ): Promise<void> {
    const n = this.planners.length ? await db.tx((q) => this.publishInTx(q, events)) : 0;
    this.published(events, n);
  }

  private async runLive(s: Sub<LiveHandler>, e: BusEvent): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.resolve().then(() => s.fn(e)),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`timed out after ${this.liveTimeoutMs} ms`)),
            this.liveTimeoutMs,
          );
          timer.unref?.();
        }),
      ]);
    } catch (err) {
      this.m?.failures.inc({ subscriber: s.name });
      this.log.warn(
        { subscriber: s.name, event: e.type, err: (err as Error).message },
        'bus subscriber failed',
      );
    } finally {
      if (timer) clearTimeout(timer);
    }
  }
}
