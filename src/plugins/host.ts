/**
 * The plugin host: loads plugin definitions (the built-in table plus third-party modules named in
 * config), builds one instance per tenant and service from the tenant's provisioned service, and
 * wraps every call from outside: a timeout, error containment (anything thrown becomes a
 * PluginError), a circuit breaker per instance, and per-plugin metrics. A plugin cannot reach the
 * gateway: it gets a child logger, an HTTP client, its own key-value namespace and its config.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from '../shared/logger.js';
import { counter, gauge, histogram, type Registry } from '../shared/metrics.js';
import type { KeyValueStore } from '../shared/state/types.js';
import { type EventFilter, subscriptionFilter, subscriptionProblems } from './bus.js';
import { createHttpClient } from './http-client.js';
import {
  type KindImplementations,
  type PluginDefinition,
  type PluginKind,
  pluginProblems,
  redact,
} from './sdk.js';
import { type HttpClient, type HttpRequestOptions, PluginError, type PluginKv } from './types.js';

/** Where an instance's configuration comes from: the tenant's provisioned service, secrets opened. */
export interface ServiceSource {
  getWithSecret(
    ccid: string,
    serviceName: string,
  ): Promise<
    { url?: string | null; data: Record<string, unknown>; secret: Record<string, unknown> } | undefined
  >;
}

export interface PluginHostOptions {
  log: Logger;
  kv: KeyValueStore;
  services: ServiceSource;
  registry?: Registry;
  callTimeoutMs?: number;
  circuitFailures?: number;
  circuitResetMs?: number;
  /** Seals what plugins keep in their key-value store (the gateway's secret box). */
  sealer?: { seal(value: unknown, aad: string): string; open<T>(sealed: string, aad: string): T };
  /** Plugins' HTTP client (tests may pass one with shorter timeouts). */
  http?: HttpClient;
}

interface Circuit {
  failures: number;
  openUntil: number;
}

/** Loads third-party plugin modules: each must export a plugin definition as default (or `plugin`). */
export async function loadPluginModules(specs: string, cwd = process.cwd()): Promise<PluginDefinition[]> {
  const out: PluginDefinition[] = [];
  for (const spec of specs
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const target =
      spec.startsWith('.') || isAbsolute(spec)
        ? pathToFileURL(isAbsolute(spec) ? spec : resolve(cwd, spec)).href
        : spec;
    let mod: any;
    try {
      mod = await import(target);
    } catch (err) {
      throw new Error(`cannot load plugin module "${spec}": ${(err as Error).message}`);
    }
    const def = mod.default ?? mod.plugin;
    const problems = pluginProblems(def);
    if (!problems.length) problems.push(...subscriptionProblems(def.kind, def.subscribe));
    if (problems.length)
      throw new Error(`plugin module "${spec}" is not a valid plugin: ${problems.join('; ')}`);
    out.push(def);
  }
  return out;
}

/**
 * A PluginError, also when it comes from another copy of the SDK (a plugin package that bundles
 * its own): its `retryable` is what the plugin meant, whichever copy built it.
 */
function asPluginError(err: unknown): PluginError | undefined {
  if (err instanceof PluginError) return err;
  const e = err as { name?: unknown; retryable?: unknown; status?: unknown; message?: unknown } | null;
  if (!e || e.name !== 'PluginError' || typeof e.retryable !== 'boolean') return undefined;
  return new PluginError(String(e.message), {
    retryable: e.retryable,
    status: typeof e.status === 'number' ? e.status : undefined,
    cause: err,
  });
}

export class PluginHost {
  private readonly defs = new Map<string, PluginDefinition>();
  /** serviceName (or service-name prefix ending in `-`) → plugin name. */
  private readonly bindings = new Map<string, string>();
  /**
   * `kind:serviceName` → plugin name: one service may serve several kinds (`Async` carries both
   * SMS and email channels), each through its own plugin.
   */
  private readonly kindBindings = new Map<string, string>();
  /** serviceName → other services of the tenant its plugin reads too (`PorticoEmail` → `PurecloudIDP`). */
  private readonly companions = new Map<string, string[]>();
  private readonly instances = new Map<string, Promise<unknown>>();
  private readonly circuits = new Map<string, Circuit>();
  private readonly http: HttpClient;
  private readonly m;

  constructor(private readonly opts: PluginHostOptions) {
    this.http = opts.http ?? createHttpClient();
    const reg = opts.registry;
    this.m = reg
      ? {
          calls: counter(reg, 'nexus_plugin_calls_total', 'Calls into plugins, by outcome.', [
            'plugin',
            'method',
            'outcome',
          ]),
          duration: histogram(
            reg,
            'nexus_plugin_call_duration_seconds',
            'Duration of calls into plugins.',
            ['plugin'],
            [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15],
          ),
          open: gauge(reg, 'nexus_plugin_circuit_open', 'Plugin instances whose circuit is open.', [
            'plugin',
          ]),
        }
      : undefined;
  }

  /** Registers a definition; a duplicate name is a start-up error. */
  register(def: PluginDefinition): void {
    const problems = pluginProblems(def);
    if (!problems.length) problems.push(...subscriptionProblems(def.kind, def.subscribe));
    if (problems.length)
      throw new Error(`invalid plugin ${String((def as any)?.name)}: ${problems.join('; ')}`);
    if (this.defs.has(def.name)) throw new Error(`plugin ${def.name} is registered twice`);
    this.defs.set(def.name, def);
    // A third-party plugin is provisioned as the service `Plugin-<name>`.
    this.bindings.set(`Plugin-${def.name}`, def.name);
  }

  /**
   * Binds a service name to a plugin (the built-in table: `mGageSMS` → `kaleyra`). `uses` names
   * other services of the tenant the plugin is configured from too: they reach its config as
   * `services.<name>` (`{ url, data, secret }`), and a change to one rebuilds the instance.
   */
  bind(serviceName: string, pluginName: string, uses: string[] = []): void {
    const def = this.defs.get(pluginName);
    if (!def) throw new Error(`unknown plugin ${pluginName} for service ${serviceName}`);
    this.bindings.set(serviceName, pluginName);
    this.kindBindings.set(`${def.kind}:${serviceName}`, pluginName);
    if (uses.length) this.companions.set(`${def.kind}:${serviceName}`, uses);
  }

  /** The plugin serving a service (for `kind`, when the service serves several kinds). */
  definitionFor(serviceName: string, kind?: PluginKind): PluginDefinition | undefined {
    const find = (m: Map<string, string>, key: (k: string) => string) =>
      m.get(key(serviceName)) ??
      [...m.entries()].find(([k]) => k.endsWith('-') && key(serviceName).startsWith(k))?.[1];
    const name = (kind && find(this.kindBindings, (s) => `${kind}:${s}`)) || find(this.bindings, (s) => s);
    return name ? this.defs.get(name) : undefined;
  }

  /** The bus events the plugin serving a webhook service receives (its `subscribe`). */
  subscriptionOf(serviceName: string): EventFilter {
    return subscriptionFilter(this.definitionFor(serviceName, 'webhook')?.subscribe);
  }

  list(): Array<{ name: string; kind: PluginKind; version: string }> {
    return [...this.defs.values()].map((d) => ({ name: d.name, kind: d.kind, version: d.version }));
  }

  /** Forget cached instances of a tenant's service (its provisioning changed). */
  invalidate(ccid: string, serviceName?: string): void {
    for (const key of this.instances.keys()) {
      if (!key.startsWith(`${ccid}/`)) continue;
      const [service, kind] = key.slice(ccid.length + 1).split('#');
      const uses = this.companions.get(`${kind}:${service}`) ?? [];
      if (!serviceName || service === serviceName || uses.includes(serviceName)) this.instances.delete(key);
    }
  }

  /**
   * The guarded instance of a tenant's service, typed by kind. Every method call on it runs under
   * the timeout, the circuit breaker and the metrics. Throws PluginError (not retryable) when the
   * service is not provisioned or its configuration does not fit the plugin.
   */
  async instance<K extends PluginKind>(
    ccid: string,
    serviceName: string,
    kind: K,
  ): Promise<KindImplementations[K]> {
    const def = this.definitionFor(serviceName, kind);
    if (!def) throw new PluginError(`no plugin serves ${serviceName}`, { retryable: false });
    if (def.kind !== kind)
      throw new PluginError(`${serviceName} is a ${def.kind} plugin, not ${kind}`, { retryable: false });
    const key = `${ccid}/${serviceName}#${kind}`;
    let p = this.instances.get(key);
    if (!p) {
      p = this.build(def, ccid, serviceName, this.companions.get(`${kind}:${serviceName}`) ?? []);
      this.instances.set(key, p);
      p.catch(() => this.instances.delete(key));
    }
    const impl = (await p) as Record<string, unknown>;
    return this.guard(def.name, key, impl) as unknown as KindImplementations[K];
  }

  private async build(
    def: PluginDefinition,
    ccid: string,
    serviceName: string,
    uses: string[],
  ): Promise<unknown> {
    const svc = await this.opts.services.getWithSecret(ccid, serviceName);
    if (!svc)
      throw new PluginError(`${serviceName} is not provisioned for tenant ${ccid}`, { retryable: false });
    const services: Record<string, unknown> = {};
    for (const name of uses) {
      const other = await this.opts.services.getWithSecret(ccid, name);
      if (!other)
        throw new PluginError(
          `${serviceName} needs the ${name} service, not provisioned for tenant ${ccid}`,
          {
            retryable: false,
          },
        );
      services[name] = { url: other.url ?? undefined, data: other.data ?? {}, secret: other.secret ?? {} };
    }
    const parsed = def.config.safeParse({
      url: svc.url ?? undefined,
      data: svc.data ?? {},
      secret: svc.secret ?? {},
      ...(uses.length ? { services } : {}),
    });
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw new PluginError(
        `the ${serviceName} service does not fit plugin ${def.name}: ${i.path.join('.')}: ${i.message}`,
        {
          retryable: false,
        },
      );
    }
    const log = this.opts.log.child({ plugin: def.name, ccid });
    log.debug({ config: redact(def.config, parsed.data) }, 'plugin instance created');
    const prefix = `plugin:${def.name}:${ccid}:`;
    // Plugins keep tokens and the like here: sealed at rest when the gateway gives a sealer.
    const seal = this.opts.sealer;
    const kv: PluginKv = {
      get: async (k) => {
        const v = await this.opts.kv.get(prefix + k);
        if (v === null || !seal) return v;
        try {
          return seal.open<string>(v, prefix + k);
        } catch {
          return null;
        }
      },
      set: (k, v, ttl) => this.opts.kv.set(prefix + k, seal ? seal.seal(v, prefix + k) : v, ttl),
      delete: (k) => this.opts.kv.delete(prefix + k),
    };
    const http = this.http;
    // Frozen, with its own handle on the shared HTTP client: a plugin that reassigns a method
    // changes nothing another plugin (or tenant) uses, so it cannot see their requests.
    return def.create(
      Object.freeze({
        log,
        http: Object.freeze({ request: (url: string, opts?: HttpRequestOptions) => http.request(url, opts) }),
        kv: Object.freeze(kv),
        config: parsed.data,
        ccid,
      }),
    );
  }

  private guard(plugin: string, key: string, impl: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [method, fn] of Object.entries(impl)) {
      if (typeof fn !== 'function') continue;
      out[method] = (...args: unknown[]) =>
        this.call(plugin, key, method, () => (fn as (...a: unknown[]) => unknown).apply(impl, args));
    }
    return out;
  }

  private async call<T>(plugin: string, key: string, method: string, fn: () => Promise<T> | T): Promise<T> {
    const circuit = this.circuits.get(key) ?? { failures: 0, openUntil: 0 };
    this.circuits.set(key, circuit);
    const now = Date.now();
    if (circuit.openUntil > now) {
      this.m?.calls.inc({ plugin, method, outcome: 'circuit_open' });
      throw new PluginError(`plugin ${plugin} is failing; calls paused for ${circuit.openUntil - now} ms`, {
        retryable: true,
      });
    }
    const timeoutMs = this.opts.callTimeoutMs ?? 15_000;
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        Promise.resolve().then(fn),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new PluginError(`plugin ${plugin}.${method} timed out after ${timeoutMs} ms`, {
                  retryable: true,
                }),
              ),
            timeoutMs,
          );
          timer.unref?.();
        }),
      ]);
      circuit.failures = 0;
      if (circuit.openUntil) {
        circuit.openUntil = 0;
        this.m?.open.dec({ plugin });
      }
      this.m?.calls.inc({ plugin, method, outcome: 'ok' });
      return result;
    } catch (err) {
      const e =
        asPluginError(err) ??
        new PluginError(`plugin ${plugin}.${method} failed: ${(err as Error)?.message ?? String(err)}`, {
          retryable: true,
          cause: err,
        });
      // Only failures that say the provider is unwell count towards opening the circuit.
      if (e.retryable) {
        circuit.failures++;
        if (circuit.failures >= (this.opts.circuitFailures ?? 5) && !circuit.openUntil) {
          circuit.openUntil = Date.now() + (this.opts.circuitResetMs ?? 30_000);
          this.m?.open.inc({ plugin });
          this.opts.log.warn({ plugin, key, failures: circuit.failures }, 'plugin circuit opened');
        } else if (circuit.openUntil) {
          // A failed trial call after the pause: open again.
          circuit.openUntil = Date.now() + (this.opts.circuitResetMs ?? 30_000);
        }
      }
      this.m?.calls.inc({ plugin, method, outcome: e.retryable ? 'error' : 'rejected' });
      throw e;
    } finally {
      if (timer) clearTimeout(timer);
      this.m?.duration.observe({ plugin }, (performance.now() - started) / 1000);
    }
  }
}
