/**
 * The plugin SDK: what a bot or channel developer writes against. A plugin is one module:
 *
 *   export default definePlugin({
 *     name: 'acme-sms', kind: 'sms', version: '1.0.0',
 *     config: z.object({ url: z.string().url(), token: secret(z.string()) }),
 *     create(ctx) { return { async send(msg) { … } } },
 *   });
 *
 * `ctx` gives a child logger, an HTTP client with timeouts, a namespaced key-value store and the
 * parsed config, and nothing else of the gateway.
 */
import { z } from 'zod';
import type { Logger } from '../shared/logger.js';
import type {
  BotConnector,
  EmailProvider,
  HttpClient,
  PluginKv,
  SmsProvider,
  WebhookTarget,
} from './types.js';

export type PluginKind = 'sms' | 'email' | 'webhook' | 'bot';

export interface KindImplementations {
  sms: SmsProvider;
  email: EmailProvider;
  webhook: WebhookTarget;
  bot: BotConnector;
}

export interface PluginContext<C> {
  readonly log: Logger;
  readonly http: HttpClient;
  readonly kv: PluginKv;
  /** The instance's configuration, parsed by the plugin's schema. */
  readonly config: C;
  /** The tenant this instance serves. */
  readonly ccid: string;
}

export interface PluginDefinition<K extends PluginKind = PluginKind, S extends z.ZodTypeAny = z.ZodTypeAny> {
  readonly name: string;
  readonly kind: K;
  readonly version: string;
  /** Schema of the instance configuration; wrap secret fields with `secret()`. */
  readonly config: S;
  create(ctx: PluginContext<z.infer<S>>): KindImplementations[K] | Promise<KindImplementations[K]>;
}

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/i;
const VERSION_RE = /^\d+\.\d+\.\d+([-+][\w.-]+)?$/;

/** Declares a plugin; checks its declaration so that a broken plugin fails at load, not at first use. */
export function definePlugin<K extends PluginKind, S extends z.ZodTypeAny>(
  def: PluginDefinition<K, S>,
): PluginDefinition<K, S> {
  const problems = pluginProblems(def);
  if (problems.length)
    throw new Error(`invalid plugin ${String((def as any)?.name)}: ${problems.join('; ')}`);
  return Object.freeze(def);
}

export function pluginProblems(def: unknown): string[] {
  const d = def as Partial<PluginDefinition>;
  const out: string[] = [];
  if (!d || typeof d !== 'object') return ['not an object'];
  if (typeof d.name !== 'string' || !NAME_RE.test(d.name))
    out.push('name must be letters, digits and dashes');
  if (!['sms', 'email', 'webhook', 'bot'].includes(d.kind as string))
    out.push('kind must be sms, email, webhook or bot');
  if (typeof d.version !== 'string' || !VERSION_RE.test(d.version))
    out.push('version must be semver (1.2.3)');
  if (!(d.config instanceof z.ZodType)) out.push('config must be a zod schema');
  if (typeof d.create !== 'function') out.push('create must be a function');
  return out;
}

const SECRET = Symbol.for('nexus.plugin.secret');

/** Marks a config field as secret: it is encrypted at rest, never logged, never returned. */
export function secret<T extends z.ZodTypeAny>(schema: T): T {
  (schema as any)[SECRET] = true;
  return schema;
}

export function isSecret(schema: z.ZodTypeAny): boolean {
  let s: any = schema;
  while (s) {
    if (s[SECRET]) return true;
    s = s._def?.innerType ?? s._def?.schema;
  }
  return false;
}

/** The dotted paths of the secret fields of an object schema. */
export function secretPaths(schema: z.ZodTypeAny, prefix = ''): string[] {
  if (isSecret(schema)) return [prefix || '(root)'];
  let s: any = schema;
  while (s?._def?.innerType || (s?._def?.schema && !(s instanceof z.ZodObject)))
    s = s._def.innerType ?? s._def.schema;
  if (s instanceof z.ZodObject) {
    return Object.entries(s.shape as Record<string, z.ZodTypeAny>).flatMap(([k, v]) =>
      secretPaths(v, prefix ? `${prefix}.${k}` : k),
    );
  }
  return [];
}

/** A copy of `value` with every secret field replaced, for logs and answers. */
export function redact(schema: z.ZodTypeAny, value: unknown): unknown {
  const paths = secretPaths(schema);
  if (!value || typeof value !== 'object') return value;
  const copy = structuredClone(value) as Record<string, any>;
  for (const p of paths) {
    const parts = p.split('.');
    let o: any = copy;
    for (const part of parts.slice(0, -1)) o = o?.[part];
    const last = parts[parts.length - 1];
    if (o && typeof o === 'object' && last in o) o[last] = '[redacted]';
  }
  return copy;
}

export { PluginError } from './types.js';
export type * from './types.js';
/**
 * The gateway's own zod: a plugin must build its config schema with it (a second copy of zod in the
 * plugin's project would not be recognised as a schema).
 */
export { z };
