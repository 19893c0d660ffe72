/**
 * The plugin runtime of a gateway node: the outbox, the bus and the plugin host, composed once.
 * Built-in plugins come from one table (`builtins.ts`); third-party ones from `nexus.plugins.modules`.
 * An unknown or invalid plugin stops the start.
 */
import type { NexusConfig } from '../shared/config.js';
import type { Database } from '../shared/db/pool.js';
import type { Logger } from '../shared/logger.js';
import type { Registry } from '../shared/metrics.js';
import type { SharedState } from '../shared/state/types.js';
import { BUILTIN_PLUGINS } from './builtins.js';
import { EventBus } from './bus.js';
import { loadPluginModules, PluginHost, type ServiceSource } from './host.js';
import { type AfterCommit, Outbox, type OutcomeHook } from './outbox/outbox.js';

export type { OutcomeHook } from './outbox/outbox.js';

export interface PluginRuntimeDeps {
  config: NexusConfig;
  db: Database;
  /** Read at start: the shared state's driver is chosen then. */
  state: () => SharedState;
  services: ServiceSource & {
    onChange?(l: (c: { ccid: string; name: string }) => void): Promise<() => Promise<void>>;
  };
  log: Logger;
  registry: Registry;
  /** Seals what plugins keep in the shared key-value store (tokens): the gateway's secret box. */
  sealer?: { seal(value: unknown, aad: string): string; open<T>(sealed: string, aad: string): T };
}

export class PluginRuntime {
  readonly name = 'plugins';
  readonly outbox: Outbox;
  readonly bus: EventBus;
  host!: PluginHost;
  private stopWatching: (() => Promise<void>) | undefined;
  private readonly starters: Array<(rt: PluginRuntime) => void | Promise<void>> = [];

  constructor(private readonly deps: PluginRuntimeDeps) {
    const log = deps.log;
    this.outbox = new Outbox({
      db: deps.db,
      log: log.child({ component: 'outbox' }),
      registry: deps.registry,
      // The pub/sub of the shared state wakes the workers of every node.
      pubsub: {
        publish: (c, m) => deps.state().pubsub.publish(c, m),
        subscribe: (c, fn) => deps.state().pubsub.subscribe(c, fn),
      },
      // Every hook runs in the outcome's transaction; their live parts after its commit.
      onOutcome: async (row, outcome, result, q) => {
        const after: AfterCommit[] = [];
        for (const fn of this.onOutcome) {
          const a = await fn(row, outcome, result, q);
          if (typeof a === 'function') after.push(a);
        }
        return after.length
          ? async () => {
              for (const a of after) {
                await Promise.resolve()
                  .then(a)
                  .catch((err) =>
                    log.warn({ err: (err as Error).message, id: row.id }, 'outcome notification failed'),
                  );
              }
            }
          : undefined;
      },
    });
    this.bus = new EventBus(this.outbox, log.child({ component: 'bus' }), deps.registry);
  }

  /** Hooks told of every delivery's final outcome, in its transaction (delivery states, `undelivered`). */
  readonly onOutcome: OutcomeHook[] = [];

  /** Work to do once the host exists (modules register outbox handlers and bus planners here). */
  onStart(fn: (rt: PluginRuntime) => void | Promise<void>): void {
    this.starters.push(fn);
  }

  async start(): Promise<void> {
    const c = this.deps.config.plugins;
    this.host = new PluginHost({
      log: this.deps.log.child({ component: 'plugins' }),
      kv: this.deps.state().kv,
      sealer: this.deps.sealer,
      services: this.deps.services,
      registry: this.deps.registry,
      callTimeoutMs: c.callTimeoutMs,
      circuitFailures: c.circuitFailures,
      circuitResetMs: c.circuitResetMs,
    });
    for (const b of BUILTIN_PLUGINS) {
      this.host.register(b.plugin);
      for (const s of b.services) this.host.bind(s, b.plugin.name, b.uses);
    }
    for (const def of await loadPluginModules(c.modules)) this.host.register(def);
    if (this.deps.services.onChange) {
      this.stopWatching = await this.deps.services.onChange((ch) => this.host.invalidate(ch.ccid, ch.name));
    }
    for (const fn of this.starters) await fn(this);
    await this.outbox.start();
  }

  async close(): Promise<void> {
    await this.outbox.close();
    await this.stopWatching?.();
    this.stopWatching = undefined;
  }
}
