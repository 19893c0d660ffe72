/**
 * One typed configuration, parsed and validated once at start from a YAML file whose shape
 * mirrors the Helm values (`nexus:` and `athena:` sections) and from environment variables that
 * override it. Every leaf key `a.bC.d` has the env form `A_B_C_D` (camelCase split on capitals):
 * `nexus.redis.useCluster` is `NEXUS_REDIS_USE_CLUSTER`. `envTable()` lists them all for the docs.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const bool = z.boolean();
const port = z.number().int().min(0).max(65535);

const redisNexus = z
  .object({
    enabled: bool.default(true),
    /** Comma-separated `redis://` or `rediss://` URLs. Empty: the in-process driver (one node only). */
    nodes: z.string().default(''),
    useCluster: bool.default(false),
    enableTls: bool.default(false),
    password: z.string().default(''),
    /** Verify the Redis server's TLS certificate. Off accepts a self-signed one (prefer tlsCaFile). */
    tlsRejectUnauthorized: bool.default(true),
    /** PEM file of the private CA that signed the Redis server's certificate. */
    tlsCaFile: z.string().default(''),
    /** Prefix for every key, so several deployments can share one Redis. */
    keyPrefix: z.string().default('nexus:'),
    /**
     * How long Redis may be unreachable before /health/ready fails, in ms: every replica shares
     * Redis, and nodes keep serving their own sockets through a blip (/health/detail is red at once).
     */
    readinessGraceMs: z.number().int().min(0).default(30_000),
  })
  .strict();

const dbNexus = z
  .object({
    /** Empty: the embedded PGlite database in `dataDir` (or in memory, see `embeddedInMemory`). */
    host: z.string().default(''),
    port: port.default(5432),
    user: z.string().default('nexus'),
    password: z.string().default('nexus'),
    database: z.string().default('nexus'),
    enableSSL: bool.default(false),
    /** Reject PostgreSQL certificates that do not verify (only with enableSSL). */
    sslRejectUnauthorized: bool.default(false),
    poolSize: z.number().int().min(1).max(200).default(10),
    /** Embedded database only: keep it in memory (tests) instead of in `dataDir`. */
    embeddedInMemory: bool.default(false),
  })
  .strict();

const oidc = z
  .object({
    /** Issuer whose JWTs are admin credentials, e.g. https://auth.example.com. Empty: off. */
    issuer: z.string().default(''),
    /** JWKS URL; defaults to the issuer's discovery document. */
    jwksUri: z.string().default(''),
    /**
     * The audience (`aud`) the tokens must carry; required with an issuer, since every token the
     * issuer signs for any other application would otherwise be an admin credential here.
     */
    audience: z.string().default(''),
  })
  .strict();

const introspection = z
  .object({
    /** RFC 7662 token introspection URL of an OAuth2 server (the suite's auth service). Empty: off. */
    url: z.string().default(''),
    clientId: z.string().default(''),
    clientSecret: z.string().default(''),
    /** Seconds an introspection answer is cached. */
    cacheSeconds: z.number().int().min(0).default(60),
  })
  .strict();

export const nexusSchema = z
  .object({
    /** HTTP port of REST, socket.io and /ux (0: any free port). */
    port: port.default(8080),
    host: z.string().default('0.0.0.0'),
    /** Prometheus metrics port (0: any free port). */
    metricsPort: port.default(4004),
    /** Admin bearer token. Empty: one is generated once and kept in `dataDir/admin-token`. */
    adminToken: z.string().default(''),
    /** Where the embedded database and generated secrets live. */
    dataDir: z.string().default('./data'),
    /** The public URL the gateway is reached at (signature checks, links). */
    fqdn: z.string().default(''),
    redirectProtocol: z.string().default('http://'),
    /** AES-256 key (base64, 32 bytes) that encrypts service secrets. Empty: generated into dataDir. */
    secretsKey: z.string().default(''),
    /** Largest request body accepted, in bytes. */
    bodyLimit: z.number().int().min(1024).default(1_048_576),
    /** Comma-separated origins allowed by CORS; `*` allows any. */
    corsOrigins: z.string().default('*'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    redis: redisNexus.default({}),
    db: dbNexus.default({}),
    auth: z
      .object({ oidc: oidc.default({}), introspection: introspection.default({}) })
      .strict()
      .default({}),
    rateLimit: z
      .object({
        /** Default token-bucket capacity of an API key. */
        capacity: z.number().int().min(1).default(120),
        /** Default refill period of an API key's bucket, in seconds. */
        frequency: z.number().int().min(1).default(60),
      })
      .strict()
      .default({}),
    /** The plugin runtime: third-party plugins and the limits every plugin call runs under. */
    plugins: z
      .object({
        /** Comma-separated module paths or package names of third-party plugins to load at start. */
        modules: z.string().default(''),
        /** Longest a plugin call may take, in ms. */
        callTimeoutMs: z.number().int().min(100).default(15_000),
        /** Consecutive failures that open a plugin instance's circuit. */
        circuitFailures: z.number().int().min(1).default(5),
        /** How long an open circuit refuses calls before trying again, in ms. */
        circuitResetMs: z.number().int().min(100).default(30_000),
      })
      .strict()
      .default({}),
    /** Consumer and agent chat: tokens, the group-commit writer, socket limits. */
    chat: z
      .object({
        /**
         * HS256 key (at least 32 characters) that signs client and agent tokens. Empty: generated once
         * into `dataDir/token.key`. Every node of a deployment must share it.
         */
        tokenKey: z.string().default(''),
        /** Lifetime of a consumer client token, in seconds. */
        clientTokenTtl: z.number().int().min(60).default(86_400),
        /** Lifetime of an agent token, in seconds. */
        agentTokenTtl: z.number().int().min(60).default(43_200),
        /** Group commit: longest wait before a batch of messages is committed, in milliseconds. */
        commitWindowMs: z.number().min(0).max(1000).default(2),
        /** Group commit: a batch is committed at once when this many messages are pending. */
        commitMaxBatch: z.number().int().min(1).max(5000).default(256),
        /**
         * Group commit: batches committing at once on PostgreSQL (a conversation is in at most one of
         * them). The embedded database has one connection and always commits one at a time.
         */
        maxInflightCommits: z.number().int().min(1).max(64).default(4),
        /** Messages one socket may send per second (token bucket, refilled evenly). */
        socketMessagesPerSecond: z.number().min(0.1).default(20),
        /** Burst of messages one socket may send at once. */
        socketMessageBurst: z.number().int().min(1).default(60),
        /** Typing events one socket (or REST session) may send per second; extra ones are dropped. */
        typingPerSecond: z.number().min(0.1).default(5),
        /** Largest socket.io frame accepted, in bytes (larger frames close the connection). */
        maxFrameBytes: z.number().int().min(1024).default(65_536),
        /**
         * Largest voice message a chat customer may upload (`POST {selfUri}/media`), in bytes; a
         * larger one is refused with 413 PAYLOAD_TOO_LARGE before it is read.
         */
        maxMediaBytes: z
          .number()
          .int()
          .min(1024)
          .max(10 * 1024 * 1024)
          .default(1_048_576),
      })
      .strict()
      .default({}),
    /** The embedded router (queues, agents, async hold). */
    routing: z
      .object({
        /** How often each node re-runs assignment and refreshes its agents' presence, in ms. */
        sweepMs: z.number().int().min(50).default(2000),
        /** How long an agent socket counts as connected without its node's heartbeat, in ms. */
        presenceTtlMs: z.number().int().min(1000).default(30_000),
        /** How long all of a customer's sockets may be gone before the conversation goes on async hold, in ms. */
        customerGraceMs: z.number().int().min(0).default(60_000),
      })
      .strict()
      .default({}),
    /** The browser surfaces under /ux (widget, agent console, demo). */
    ux: z
      .object({
        /**
         * The /ux/demo page and its one-click demo tenant. `auto`: on only on the embedded defaults
         * (no db.host, no redis.nodes), i.e. a local `npm start`; `on`/`off` force it.
         */
        demo: z.enum(['auto', 'on', 'off']).default('auto'),
        /**
         * CSP frame-ancestors of the agent console: who may frame it (space-separated sources). The
         * agent desktop's origin in production; `'self'` lets only the gateway's own pages frame it.
         */
        frameAncestors: z.string().default("'self'"),
        /** Comma-separated origins allowed to hand the console its agent token by postMessage. */
        parentOrigins: z.string().default(''),
        /** Where the built browser bundles are. Empty: `dist/web` of the installed package. */
        assetsDir: z.string().default(''),
      })
      .strict()
      .default({}),
  })
  .strict();

export const athenaSchema = z
  .object({
    /** HTTP port of the AI connector (the chart's containerPort). */
    port: port.default(4084),
    host: z.string().default('0.0.0.0'),
    server: z
      .object({ apiPrefix: z.string().default('/athena/v1,/nexus/v3') })
      .strict()
      .default({}),
    nexus: z
      .object({
        url: z.string().default(''),
        apiPrefix: z.string().default('/nexus/v3'),
        apiKey: z.string().default(''),
        timeout: z.number().int().min(1).default(10_000),
      })
      .strict()
      .default({}),
    db: z
      .object({
        host: z.string().default(''),
        port: port.default(5432),
        user: z.string().default('nexus'),
        password: z.string().default(''),
        database: z.string().default('nexus'),
        ssl: bool.default(false),
      })
      .strict()
      .default({}),
    redis: z
      .object({
        nodes: z.string().default(''),
        password: z.string().default(''),
        cluster: bool.default(false),
        tls: bool.default(false),
        /** As nexus.redis.tlsRejectUnauthorized. */
        tlsRejectUnauthorized: bool.default(true),
        /** As nexus.redis.tlsCaFile. */
        tlsCaFile: z.string().default(''),
        /** As nexus.redis.readinessGraceMs: how long Redis may be unreachable before /health/ready fails. */
        readinessGraceMs: z.number().int().min(0).default(30_000),
      })
      .strict()
      .default({}),
    google: z
      .object({
        speechApiKey: z.string().default(''),
        /**
         * How many times real time a recorded voice message over a minute is streamed to
         * speech-to-text at (Google wants about real time): at 2, five minutes of audio take 2.5.
         */
        speechStreamPace: z.number().min(1).max(100).default(2),
      })
      .strict()
      .default({}),
  })
  .strict();

export const configSchema = z
  .object({ nexus: nexusSchema.default({}), athena: athenaSchema.default({}) })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type NexusConfig = Config['nexus'];
export type AthenaConfig = Config['athena'];

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Leaf = {
  path: string[];
  env: string;
  kind: 'string' | 'number' | 'boolean' | 'enum';
  description?: string;
};

function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  let s = schema;
  for (;;) {
    if (s instanceof z.ZodDefault) s = s._def.innerType;
    else if (s instanceof z.ZodOptional) s = s._def.innerType;
    else if (s instanceof z.ZodEffects) s = s._def.schema;
    else return s;
  }
}

export function envName(path: string[]): string {
  return path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

/** Every leaf key of the configuration with its env form. */
export function configLeaves(schema: z.ZodTypeAny = configSchema, prefix: string[] = []): Leaf[] {
  const s = unwrap(schema);
  if (s instanceof z.ZodObject) {
    return Object.entries(s.shape as Record<string, z.ZodTypeAny>).flatMap(([k, v]) =>
      configLeaves(v, [...prefix, k]),
    );
  }
  const kind =
    s instanceof z.ZodBoolean
      ? 'boolean'
      : s instanceof z.ZodNumber
        ? 'number'
        : s instanceof z.ZodEnum
          ? 'enum'
          : 'string';
  return [{ path: prefix, env: envName(prefix), kind }];
}

function defaultsOf(path: string[]): unknown {
  let v: any = configSchema.parse({});
  for (const p of path) v = v?.[p];
  return v;
}

/** Rows for the documentation: env name, key, default. */
export function envTable(): Array<{ env: string; key: string; default: unknown }> {
  return configLeaves().map((l) => ({ env: l.env, key: l.path.join('.'), default: defaultsOf(l.path) }));
}

function coerce(leaf: Leaf, raw: string): unknown {
  if (leaf.kind === 'boolean') {
    const v = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off', ''].includes(v)) return false;
    throw new ConfigError(`${leaf.env} (${leaf.path.join('.')}): expected true or false, got "${raw}"`);
  }
  if (leaf.kind === 'number') {
    // Plain decimals only: Number() would also take '0x1F', '1e3' and ' '.
    const n = Number(raw.trim());
    if (!/^-?\d+(\.\d+)?$/.test(raw.trim()) || !Number.isFinite(n)) {
      throw new ConfigError(`${leaf.env} (${leaf.path.join('.')}): expected a number, got "${raw}"`);
    }
    return n;
  }
  return raw;
}

function setPath(obj: Record<string, any>, path: string[], value: unknown): void {
  let o = obj;
  for (const p of path.slice(0, -1)) {
    if (typeof o[p] !== 'object' || o[p] === null) o[p] = {};
    o = o[p];
  }
  o[path[path.length - 1]] = value;
}

/** A YAML key left empty (`port:`) is null: as in Helm values, it means "not set", so the default applies. */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x);
    return out;
  }
  return v;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export interface LoadOptions {
  /** Path of a YAML file; defaults to NEXUS_CONFIG. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values that win over file and env (tests). */
  overrides?: Record<string, unknown>;
}

function merge(a: any, b: any): any {
  if (b === undefined) return a;
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null || Array.isArray(b))
    return b;
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = merge(a[k], v);
  return out;
}

/** Parses and validates the configuration. A bad value throws a ConfigError naming the key. */
export function loadConfig(opts: LoadOptions = {}): Readonly<Config> {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.NEXUS_CONFIG;
  let raw: Record<string, any> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read the config file ${file}: ${(err as Error).message}`);
    }
    try {
      raw = (parseYaml(text) as Record<string, any>) ?? {};
    } catch (err) {
      throw new ConfigError(`the config file ${file} is not valid YAML: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      throw new ConfigError(`the config file ${file} must be a mapping with nexus: and athena: sections`);
    }
    raw = dropNulls(raw) as Record<string, any>;
  }
  for (const leaf of configLeaves()) {
    const v = env[leaf.env];
    if (v !== undefined) setPath(raw, leaf.path, coerce(leaf, v));
  }
  raw = merge(raw, opts.overrides ?? {});
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    // Every problem at once, each naming its key (and its env form), so one restart fixes them all.
    const problems = parsed.error.issues.map((issue) => {
      const path = issue.path.map(String);
      if (issue.code === 'unrecognized_keys') {
        const keys = issue.keys.map((k) => [...path, k].join('.')).join(', ');
        return `${keys}: unknown key${issue.keys.length > 1 ? 's' : ''}`;
      }
      return `${path.join('.')} [env ${envName(path)}]: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const { oidc } = parsed.data.nexus.auth;
  if (oidc.issuer && !oidc.audience) {
    throw new ConfigError(
      `invalid configuration: nexus.auth.oidc.audience [env ${envName(['nexus', 'auth', 'oidc', 'audience'])}]: is required when nexus.auth.oidc.issuer is set (the aud claim its admin tokens carry)`,
    );
  }
  return deepFreeze(parsed.data);
}
