/**
 * Cross-node delivery after the socket.io adapter's subscriber connection comes back. While a
 * node's subscriptions are gone (Redis restarted or unreachable, and until the client has
 * subscribed again after reconnecting) it receives nothing the other nodes publish: a message
 * committed elsewhere in that window is durable in the database but never pushed to this node's
 * sockets. The next message of the conversation would fill the gap; a conversation that goes
 * quiet would stay short until the client reconnects.
 *
 * So after every (re)connection of the subscriber (`ready`, and a Redis Cluster's
 * `subscribersReady` once its sharded subscribers are rebuilt) the node sends itself a probe
 * through the adapter, the way committed messages travel, and waits until the probe comes back on
 * its own subscriber connection. From then on everything the others publish reaches it, so it
 * refills its sockets from the database: whatever was committed before is read there, whatever
 * is committed after arrives live, and each socket's OrderedDelivery drops what it already holds.
 *
 * The other way round: when a publish of this node fails (its own connection was lost for longer
 * than ioredis keeps commands queued, while the others stayed subscribed), the others never hear of
 * those messages. Once this node's publisher is ready again it asks every node to refill.
 */
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { Logger } from '../../shared/logger.js';

export interface ResyncOptions {
  /** The adapter's subscriber client (ioredis Redis or Cluster). */
  sub: EventEmitter & { readonly status: string };
  /** Publishes `token` through the adapter, on the channel committed messages take. */
  probe: (token: string) => void;
  /** Subscribed again: refill the sockets from the database. */
  refill: () => Promise<unknown>;
  /** The adapter's publisher client. */
  pub: EventEmitter & { readonly status: string };
  /** Asks every other node (through the adapter) to refill its sockets. */
  requestRefill: () => void;
  log: Logger;
  /** How long one probe may take before another is sent (default 1 s). */
  probeTimeoutMs?: number;
  /** Probing stops (with a warning) after this long without an echo (default 60 s). */
  giveUpMs?: number;
}

/** The ioredis events that carry a received message. */
const MESSAGE_EVENTS = ['messageBuffer', 'pmessageBuffer', 'smessageBuffer'] as const;
/** The events after which the subscriptions are being redone. */
const RESUBSCRIBE_EVENTS = ['ready', 'subscribersReady'] as const;

export class AdapterResync {
  private generation = 0;
  private running: Promise<void> | undefined;
  private closed = false;
  private readonly waiting = new Map<string, () => void>();
  private readonly onMessage = (...args: unknown[]) => {
    if (!this.waiting.size) return;
    // The payload is the last Buffer: a Redis Cluster re-emits its subscribers' events with a
    // fixed number of arguments, so trailing ones may be undefined.
    const payload = args.findLast((a) => Buffer.isBuffer(a));
    if (!Buffer.isBuffer(payload)) return;
    for (const [token, resolve] of this.waiting) {
      if (payload.includes(token)) {
        this.waiting.delete(token);
        resolve();
      }
    }
  };
  private readonly onResubscribe = () => this.trigger();
  private refillRequested = false;

  constructor(private readonly opts: ResyncOptions) {
    for (const e of MESSAGE_EVENTS) opts.sub.on(e, this.onMessage);
    for (const e of RESUBSCRIBE_EVENTS) opts.sub.on(e, this.onResubscribe);
  }

  /** The subscriptions may be redone: probe until they are, then refill. Resolves when done. */
  trigger(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.generation++;
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * A publish through the adapter failed: what it carried never reached the other nodes. Once the
   * publisher is ready again (or shortly, when it failed while connected), ask them to refill.
   */
  publishFailed(): void {
    if (this.closed || this.refillRequested || this.opts.pub.status === 'end') return;
    this.refillRequested = true;
    this.opts.log.warn(
      'socket.io adapter publish failed: the other nodes will refill their sockets from the database once it works again',
    );
    const send = () => {
      this.refillRequested = false;
      if (this.closed) return;
      try {
        // Failing too, it comes back here.
        this.opts.requestRefill();
      } catch (err) {
        this.opts.log.debug({ err }, 'asking the other nodes to refill failed');
      }
    };
    if (this.opts.pub.status === 'ready') setTimeout(send, this.opts.probeTimeoutMs ?? 1000).unref();
    else this.opts.pub.once('ready', send);
  }

  close(): void {
    this.closed = true;
    for (const e of MESSAGE_EVENTS) this.opts.sub.off(e, this.onMessage);
    for (const e of RESUBSCRIBE_EVENTS) this.opts.sub.off(e, this.onResubscribe);
    for (const resolve of this.waiting.values()) resolve();
    this.waiting.clear();
  }

  private async run(): Promise<void> {
    const timeoutMs = this.opts.probeTimeoutMs ?? 1000;
    const giveUpAt = Date.now() + (this.opts.giveUpMs ?? 60_000);
    for (;;) {
      // A client that has ended (the node closes) is never subscribed again.
      if (this.closed || this.opts.sub.status === 'end') return;
      const generation = this.generation;
      const echoed = await this.probeOnce(timeoutMs);
      if (this.closed) return;
      // A reconnect during the probe may have dropped the subscriptions again: probe once more.
      if (echoed && generation === this.generation) break;
      if (!echoed && Date.now() > giveUpAt) {
        this.opts.log.warn(
          { afterMs: this.opts.giveUpMs ?? 60_000 },
          'socket.io adapter probe never came back: this node may not receive messages committed on other nodes',
        );
        return;
      }
      // Not subscribed yet: the next resubscribe event restarts probing; until then try again
      // at the probe timeout's pace (a probe that went unanswered says nothing of the next one).
      if (!echoed && this.opts.sub.status !== 'ready') await this.nextResubscribe(timeoutMs);
    }
    try {
      await this.opts.refill();
    } catch (err) {
      this.opts.log.warn({ err }, 'refilling sockets after the adapter resubscribed failed');
    }
  }

  /** Sends one probe; true when it came back within `timeoutMs`. */
  private probeOnce(timeoutMs: number): Promise<boolean> {
    const token = `nexus-probe-${randomBytes(12).toString('hex')}`;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(token);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      this.waiting.set(token, () => {
        clearTimeout(timer);
        resolve(!this.closed);
      });
      try {
        this.opts.probe(token);
      } catch (err) {
        this.opts.log.debug({ err }, 'socket.io adapter probe could not be sent');
      }
    });
  }

  private nextResubscribe(ms: number): Promise<void> {
    const start = this.generation;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        for (const e of RESUBSCRIBE_EVENTS) this.opts.sub.off(e, done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      if (this.generation !== start) done();
      else for (const e of RESUBSCRIBE_EVENTS) this.opts.sub.on(e, done);
    });
  }
}
