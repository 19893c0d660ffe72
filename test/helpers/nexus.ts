/** Starts a gateway in process on port 0 against the chosen engine, for integration tests. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import { loadConfig, type NexusConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { createNexus, type Nexus } from '../../src/gateway/nexus.js';
import { type Engine, freshDatabase, realEngines } from './engines.js';

export interface TestNexus {
  nexus: Nexus;
  url: string;
  adminToken: string;
  config: NexusConfig;
  /** Stops the gateway; keeps the data (for restart tests) unless `cleanup` is called. */
  close(): Promise<void>;
  /** Drops the test database and data dir. */
  cleanup(): Promise<void>;
  /** A new gateway on the same data (database, data dir, Redis prefix). */
  restart(): Promise<TestNexus>;
}

export interface StartOptions {
  engine?: Engine;
  /** Config overrides for the nexus section. */
  nexus?: Record<string, unknown>;
  /** Keep the embedded database on disk (restart tests) instead of in memory. */
  onDisk?: boolean;
  /** Where the JSON log lines go (tests that inspect logs); with it the level defaults to `debug`. */
  logDestination?: DestinationStream;
  /**
   * Another gateway on the SAME data (real engines only: database, Redis prefix, data dir, admin
   * token), like a second node of one deployment. Its cleanup leaves the data to the first one.
   */
  shareWith?: TestNexus;
}

export async function startNexus(opts: StartOptions = {}): Promise<TestNexus> {
  const engine = opts.engine ?? 'embedded';
  if (opts.shareWith) {
    if (!opts.shareWith.config.db.host) throw new Error('shareWith needs a gateway on the real engines');
    const config = loadConfig({
      env: {},
      overrides: { nexus: merge(opts.shareWith.config, opts.nexus ?? {}) },
    }).nexus;
    return boot(config, async () => undefined, opts.logDestination);
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'nexus-test-'));
  let dropDb: (() => Promise<void>) | undefined;
  const base: Record<string, any> = {
    port: 0,
    metricsPort: 0,
    host: '127.0.0.1',
    dataDir,
    adminToken: `admin-${randomBytes(8).toString('hex')}`,
    logLevel: process.env.TEST_LOG_LEVEL ?? (opts.logDestination ? 'debug' : 'silent'),
    db: { embeddedInMemory: !opts.onDisk },
  };
  if (engine === 'real') {
    const real = realEngines();
    if (!real) throw new Error('real engines requested but not configured');
    const { database, drop } = await freshDatabase();
    dropDb = drop;
    base.db = {
      host: real.pg.host,
      port: real.pg.port,
      user: real.pg.user,
      password: real.pg.password,
      database,
    };
    base.redis = { nodes: real.redis, keyPrefix: `t${randomBytes(4).toString('hex')}:` };
  }
  const config = loadConfig({ env: {}, overrides: { nexus: merge(base, opts.nexus ?? {}) } }).nexus;
  return boot(
    config,
    async () => {
      await dropDb?.();
      rmSync(dataDir, { recursive: true, force: true });
    },
    opts.logDestination,
  );
}

async function boot(
  config: NexusConfig,
  cleanup: () => Promise<void>,
  destination?: DestinationStream,
): Promise<TestNexus> {
  const log = createLogger({ level: config.logLevel, destination });
  const nexus = createNexus(config, log);
  await nexus.start();
  const t: TestNexus = {
    nexus,
    url: nexus.url,
    adminToken: nexus.adminToken,
    config,
    close: () => nexus.close(),
    cleanup: async () => {
      await nexus.close();
      await cleanup();
    },
    restart: async () => {
      await nexus.close();
      return boot(config, cleanup, destination);
    },
  };
  return t;
}

function merge(a: any, b: any): any {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null || Array.isArray(b))
    return b;
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = merge(a[k], v);
  return out;
}

/** fetch with JSON in and out. */
export async function api(
  base: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; json?: unknown; form?: string; body?: string } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  let body: string | undefined = opts.body;
  if (opts.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form !== undefined) {
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
    body = opts.form;
  }
  const res = await fetch(base + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, headers: res.headers };
}
