/**
 * Gateway nodes as child processes (the `nexus` entry point under tsx, as test/chat/multinode.test.ts
 * starts one), sharing one PostgreSQL and one Redis: what a deployment of N replicas is. A node can
 * be SIGKILLed or SIGTERMed and another started on the same data.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import type { Postgres, RedisDeployment } from './servers.js';

const root = join(import.meta.dirname, '..', '..');

export interface GatewayNode {
  readonly name: string;
  readonly url: string;
  readonly metricsUrl: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or the signal's name) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** stdout and stderr so far (JSON log lines). */
  output(): string;
  /** Sends a signal; resolves when the process has exited. */
  kill(signal: NodeJS.Signals): Promise<number | string>;
}

export function startNode(name: string, env: Record<string, string>): Promise<GatewayNode> {
  const dataDir = mkdtempSync(join(tmpdir(), `nexus-${name}-`));
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/bin/nexus.ts')], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      NEXUS_PORT: '0',
      NEXUS_METRICS_PORT: '0',
      NEXUS_HOST: '127.0.0.1',
      NEXUS_DATA_DIR: dataDir,
      NEXUS_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  let signalled = false;
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      rmSync(dataDir, { recursive: true, force: true });
      // A node that dies on its own is a finding: its last words go to the test output.
      if (!signalled)
        process.stderr.write(`gateway ${name} exited by itself (${code ?? signal}):\n${out.slice(-4000)}\n`);
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  return new Promise((resolve, reject) => {
    const onData = () => {
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)","metrics":"(http:\/\/127\.0\.0\.1:\d+\/metrics)"/.exec(
        out,
      );
      if (!m) return;
      child.stdout?.off('data', onData);
      resolve({
        name,
        url: m[1],
        metricsUrl: m[2],
        child,
        exited,
        output: () => out,
        kill: (signal) => {
          signalled = true;
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      });
    };
    child.stdout?.on('data', onData);
    void exited.then((code) => reject(new Error(`${name} exited (${code}) before it started:\n${out}`)));
  });
}

export interface Deployment {
  readonly nodes: GatewayNode[];
  readonly adminToken: string;
  readonly database: string;
  /** The env every node of this deployment shares. */
  readonly env: Record<string, string>;
  /** A tenant, made through the first live node. */
  tenant(): Promise<TestTenant>;
  addNode(name: string, extra?: Record<string, string>): Promise<GatewayNode>;
  /** Kills what still runs (SIGKILL). */
  destroy(): Promise<void>;
}

/** N nodes on one database of `pg` and on `redis`, started together (migrations take a lock). */
export async function startDeployment(opts: {
  pg: Postgres;
  redis: RedisDeployment;
  nodes: number;
  env?: Record<string, string>;
}): Promise<Deployment> {
  const database = await opts.pg.createDatabase();
  const adminToken = `admin-${randomBytes(8).toString('hex')}`;
  const env: Record<string, string> = {
    NEXUS_ADMIN_TOKEN: adminToken,
    NEXUS_SECRETS_KEY: randomBytes(32).toString('base64'),
    NEXUS_CHAT_TOKEN_KEY: randomBytes(32).toString('base64url'),
    NEXUS_DB_HOST: opts.pg.host,
    NEXUS_DB_PORT: String(opts.pg.port),
    NEXUS_DB_USER: opts.pg.user,
    NEXUS_DB_PASSWORD: '',
    NEXUS_DB_DATABASE: database,
    NEXUS_DB_POOL_SIZE: '4',
    ...(opts.pg.ssl ? { NEXUS_DB_ENABLE_SSL: 'true' } : {}),
    NEXUS_REDIS_KEY_PREFIX: `cl${randomBytes(3).toString('hex')}:`,
    ...opts.redis.env,
    ...(opts.env ?? {}),
  };
  const nodes: GatewayNode[] = [];
  const started = await Promise.allSettled(
    Array.from({ length: opts.nodes }, (_, i) => startNode(String.fromCharCode(65 + i), env)),
  );
  for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    throw (failed as PromiseRejectedResult).reason;
  }
  const live = () => nodes.find((n) => n.child.exitCode === null && n.child.signalCode === null);
  return {
    nodes,
    adminToken,
    database,
    env,
    tenant: () => createTenant({ url: live()!.url, adminToken }),
    async addNode(name, extra = {}) {
      const n = await startNode(name, { ...env, ...extra });
      nodes.push(n);
      return n;
    },
    async destroy() {
      await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    },
  };
}

/** One metric's value (summed over its label sets) from a node's /metrics. */
export async function metric(node: GatewayNode, name: string): Promise<number> {
  const text = await (await fetch(node.metricsUrl)).text();
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      found = true;
    }
  }
  if (!found) throw new Error(`${node.name} exposes no ${name}`);
  return sum;
}

export async function healthState(node: GatewayNode): Promise<{ status: number; state: string; body: any }> {
  const r = await api(node.url, 'GET', '/health/detail');
  return { status: r.status, state: r.body?.state, body: r.body };
}

/** Until the node's /health/detail says `state` (a Redis outage turns it red, a recovery green). */
export async function untilHealth(
  node: GatewayNode,
  state: 'green' | 'red',
  timeoutMs = 60_000,
): Promise<void> {
  await until(`${node.name} ${state}`, async () => (await healthState(node)).state === state, timeoutMs);
}

/**
 * Polls until `check` holds, bounded: for states a node reaches with no event a client can await
 * (a Redis reconnect, a health flip).
 */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  ms = 20_000,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms${last ? ` (${last})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
