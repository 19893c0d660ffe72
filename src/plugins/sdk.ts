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

/**
 * Marks a config field as secret: it is encrypted at rest, never logged, never returned. It may sit
 * anywhere in the config (`secret`, `data`, `url`, inside objects, arrays and records): the gateway
 * seals each marked value wherever it is.
 */
export function secret<T extends z.ZodTypeAny>(schema: T): T {
  (schema as any)[SECRET] = true;
  return schema;
}

/** The schema a wrapper (optional, default, refine, pipe, brand, lazy, …) stands for, if any. */
function unwrap(s: any): any {
  const d = s?._def;
  if (!d) return undefined;
  if (d.innerType) return d.innerType; // optional, nullable, default, catch, readonly
  if (d.schema) return d.schema; // effects (refine, transform, preprocess)
  if (d.type && d.typeName === 'ZodBranded') return d.type;
  if (d.in) return d.in; // pipe: the input is what is provisioned
  if (typeof d.getter === 'function') return d.getter(); // lazy
  return undefined;
}

export function isSecret(schema: z.ZodTypeAny): boolean {
  let s: any = schema;
  for (let i = 0; s && i < 32; i++) {
    if (s[SECRET]) return true;
    s = unwrap(s);
  }
  return false;
}

/** Any key, or any element of an array, in a path of `secretPaths`. */
export const ANY = '*';

/** Deep enough for any config; also stops a recursive (lazy) schema. */
const MAX_SCHEMA_DEPTH = 24;

/**
 * The paths of the secret fields of a schema, as segment lists: `["secret","token"]`,
 * `["data","endpoints","*","password"]` (`*`: every element of an array, every value of a record).
 * A union contributes the secret paths of each of its options.
 */
export function secretPathSegments(schema: z.ZodTypeAny): string[][] {
  const out = new Map<string, string[]>();
  const walk = (s: any, path: string[]): void => {
    if (!s || path.length > MAX_SCHEMA_DEPTH) return;
    if (isSecret(s)) {
      out.set(JSON.stringify(path), path);
      return;
    }
    for (let i = 0; i < 32 && unwrap(s); i++) s = unwrap(s);
    const d = s._def ?? {};
    if (s instanceof z.ZodObject) {
      for (const [k, v] of Object.entries(s.shape as Record<string, z.ZodTypeAny>)) walk(v, [...path, k]);
      const rest = d.catchall;
      if (rest && !(rest instanceof z.ZodNever)) walk(rest, [...path, ANY]);
    } else if (s instanceof z.ZodArray) walk(d.type, [...path, ANY]);
    else if (s instanceof z.ZodRecord || s instanceof z.ZodMap) walk(d.valueType, [...path, ANY]);
    else if (s instanceof z.ZodTuple) {
      (d.items as z.ZodTypeAny[]).forEach((item, i) => walk(item, [...path, String(i)]));
      if (d.rest) walk(d.rest, [...path, ANY]);
    } else if (s instanceof z.ZodUnion || s instanceof z.ZodDiscriminatedUnion) {
      for (const o of d.options as z.ZodTypeAny[]) walk(o, path);
    } else if (s instanceof z.ZodIntersection) {
      walk(d.left, path);
      walk(d.right, path);
    }
  };
  walk(schema, []);
  return [...out.values()];
}

/** The dotted paths of the secret fields (`secret.token`, `data.endpoints.*.password`). */
export function secretPaths(schema: z.ZodTypeAny): string[] {
  return secretPathSegments(schema).map((p) => (p.length ? p.join('.') : '(root)'));
}

/**
 * The concrete paths in `value` that `patterns` (from `secretPathSegments`) name, outermost first;
 * a path inside one already named is left out (its parent is taken whole).
 */
export function matchSecretPaths(value: unknown, patterns: readonly (readonly string[])[]): string[][] {
  const found: string[][] = [];
  const walk = (v: unknown, pattern: readonly string[], i: number, path: string[]): void => {
    if (i === pattern.length) {
      found.push(path);
      return;
    }
    if (v === null || typeof v !== 'object') return;
    const keys = pattern[i] === ANY ? Object.keys(v) : Object.hasOwn(v, pattern[i]) ? [pattern[i]] : [];
    for (const k of keys) walk((v as Record<string, unknown>)[k], pattern, i + 1, [...path, k]);
  };
  for (const p of patterns) walk(value, p, 0, []);
  found.sort((a, b) => a.length - b.length);
  const kept: string[][] = [];
  for (const p of found) {
    const inside = kept.some((k) => k.length <= p.length && k.every((seg, i) => seg === p[i]));
    if (!inside) kept.push(p);
  }
  return kept;
}

/** A copy of `value` with every secret field replaced, for logs and answers. */
export function redact(schema: z.ZodTypeAny, value: unknown): unknown {
  const paths = matchSecretPaths(value, secretPathSegments(schema));
  if (paths.some((p) => p.length === 0)) return '[redacted]';
  if (!value || typeof value !== 'object') return value;
  const copy = structuredClone(value) as Record<string, any>;
  for (const p of paths) {
    let o: any = copy;
    for (const part of p.slice(0, -1)) o = o?.[part];
    if (o && typeof o === 'object') o[p[p.length - 1]] = '[redacted]';
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
