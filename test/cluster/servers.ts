/**
 * The servers a cluster suite starts for itself, on free loopback ports in temporary directories:
 * PostgreSQL (optionally SSL-only, with a certificate made here), and Redis in the three forms the
 * deployment guide supports (standalone, a 3-master cluster, TLS with a certificate made here).
 * Standalone Redis and the cluster come from test/helpers/redis-server.ts.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  freePort,
  type RedisServer,
  redisServerAvailable,
  startRedisCluster,
  startRedisServer,
} from '../helpers/redis-server.js';

const run = promisify(execFile);

export function clusterToolsAvailable(): boolean {
  const pgOk = pgBinDir() !== undefined;
  const redisOk = redisServerAvailable();
  const opensslOk = spawnSync('openssl', ['version']).status === 0;
  if (!(pgOk && redisOk && opensslOk))
    throw new Error('test:cluster needs the Debian redis-server, postgresql and openssl packages');
  return true;
}

function pgBinDir(): string | undefined {
  try {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b));
    const v = versions.at(-1);
    return v ? `/usr/lib/postgresql/${v}/bin` : undefined;
  } catch {
    return undefined;
  }
}

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs a shell command as the `postgres` user (PostgreSQL refuses to run as root). */
async function asPostgres(cmd: string): Promise<void> {
  await run('su', ['postgres', '-s', '/bin/sh', '-c', cmd], { timeout: 60_000 });
}

/** A self-signed certificate for 127.0.0.1 and localhost (it is its own CA). */
export async function selfSignedCert(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await run(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { timeout: 30_000 },
  );
  return { cert, key };
}

export interface Postgres {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly ssl: boolean;
  /** The server's certificate (SSL only). */
  readonly cert?: string;
  /** A new empty database. */
  createDatabase(): Promise<string>;
  /** A client of that database (SSL when the server requires it). */
  client(database: string): Promise<pg.Client>;
  /** `pg_ctl stop -m immediate`: a crash as far as clients can tell. */
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * A PostgreSQL cluster of its own. With `ssl`, pg_hba.conf admits TCP connections only over SSL
 * (`hostssl`), so a gateway that connects at all has used SSL.
 */
export async function startPostgres(opts: { ssl?: boolean } = {}): Promise<Postgres> {
  const bin = pgBinDir();
  if (!bin) throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql');
  const dir = mkdtempSync(join(tmpdir(), 'nexus-pg-'));
  chmodSync(dir, 0o755);
  chownSync(dir, uid('postgres'), gid('postgres'));
  const data = join(dir, 'data');
  const port = await freePort();
  await asPostgres(`${bin}/initdb -D ${sh(data)} -U postgres --auth=trust -E UTF8 >/dev/null`);
  let cert: string | undefined;
  const settings = ['-c fsync=off', '-c max_connections=200', `-k ${dir}`];
  if (opts.ssl) {
    const c = await selfSignedCert(data, 'server');
    chownSync(c.cert, uid('postgres'), gid('postgres'));
    chownSync(c.key, uid('postgres'), gid('postgres'));
    chmodSync(c.key, 0o600);
    cert = c.cert;
    writeFileSync(join(data, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n');
    settings.push('-c ssl=on', '-c ssl_cert_file=server.crt', '-c ssl_key_file=server.key');
  }
  const start = () =>
    asPostgres(
      `${bin}/pg_ctl -D ${sh(data)} -l ${sh(join(dir, 'log'))} -w -t 60 -o ${sh(`-h 127.0.0.1 -p ${port} ${settings.join(' ')}`)} start >/dev/null`,
    );
  const stop = () => asPostgres(`${bin}/pg_ctl -D ${sh(data)} -m immediate -w stop >/dev/null 2>&1 || true`);
  await start();
  const sslOpt = opts.ssl ? { rejectUnauthorized: false } : false;
  const client = async (database: string) => {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database, ssl: sslOpt });
    // A restart under a test's own client must fail its query, not the test process.
    c.on('error', () => undefined);
    await c.connect();
    return c;
  };
  let n = 0;
  return {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    ssl: !!opts.ssl,
    cert,
    client,
    async createDatabase() {
      const name = `c${process.pid}_${++n}`;
      const c = await client('postgres');
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return name;
    },
    stop,
    start,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function uid(user: string): number {
  return Number(spawnSync('id', ['-u', user]).stdout.toString().trim());
}
function gid(user: string): number {
  return Number(spawnSync('id', ['-g', user]).stdout.toString().trim());
}

export type RedisForm = 'standalone' | 'cluster' | 'tls' | 'cluster-tls';

export interface RedisDeployment {
  readonly form: RedisForm;
  /** The gateway's env for this Redis (`NEXUS_REDIS_*`). */
  readonly env: Record<string, string>;
  /** Kills every Redis server of the deployment (a crash), for outage tests. */
  stop(): Promise<void>;
  /** Starts them again on their ports (a cluster: until it is ok again). */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * Redis in one of its forms. TLS forms listen on TLS ports only, with a certificate made here that
 * the gateway verifies as its CA (`tlsCaFile`).
 */
export async function startRedis(form: RedisForm): Promise<RedisDeployment> {
  const withServer = (env: Record<string, string>, server: RedisServer, cleanup = () => {}) => ({
    form,
    env,
    stop: () => server.stop(),
    start: () => server.start(),
    destroy: async () => {
      await server.destroy();
      cleanup();
    },
  });
  if (form === 'standalone') {
    const server = await startRedisServer();
    return withServer({ NEXUS_REDIS_NODES: server.url }, server);
  }
  if (form === 'cluster') {
    const c = await startRedisCluster();
    return {
      form,
      env: { NEXUS_REDIS_NODES: c.nodes, NEXUS_REDIS_USE_CLUSTER: 'true' },
      stop: c.stop,
      start: c.start,
      destroy: c.destroy,
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'nexus-redis-tls-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const { cert, key } = await selfSignedCert(dir, 'redis');
    const tlsEnv = { NEXUS_REDIS_ENABLE_TLS: 'true', NEXUS_REDIS_TLS_CA_FILE: cert };
    if (form === 'cluster-tls') {
      const c = await startRedisCluster({ tls: { cert, key } });
      return {
        form,
        env: { NEXUS_REDIS_NODES: c.nodes, NEXUS_REDIS_USE_CLUSTER: 'true', ...tlsEnv },
        stop: c.stop,
        start: c.start,
        destroy: async () => {
          await c.destroy();
          cleanup();
        },
      };
    }
    const port = await freePort();
    const server = await startRedisServer(
      [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        cert,
        '--tls-key-file',
        key,
        '--tls-ca-cert-file',
        cert,
        '--tls-auth-clients',
        'no',
      ],
      port,
    );
    return withServer({ NEXUS_REDIS_NODES: `rediss://127.0.0.1:${port}`, ...tlsEnv }, server, cleanup);
  } catch (err) {
    cleanup();
    throw err;
  }
}

/**
 * How many subscriptions the Redis servers of a deployment hold on channels matching `pattern`
 * (classic and sharded, every subscriber counted): a test can see the socket.io adapters of its
 * nodes subscribed again after an outage.
 */
export async function subscriptions(redis: RedisDeployment, pattern: string): Promise<number> {
  const ca = redis.env.NEXUS_REDIS_TLS_CA_FILE;
  let total = 0;
  for (const url of redis.env.NEXUS_REDIS_NODES.split(',')) {
    const r = new Redis(url, { lazyConnect: true, ...(ca ? { tls: { ca: readFileSync(ca) } } : {}) });
    try {
      await r.connect();
      const classic = (await r.call('PUBSUB', 'CHANNELS', pattern)) as string[];
      if (classic.length) {
        const counts = (await r.call('PUBSUB', 'NUMSUB', ...classic)) as Array<string | number>;
        for (let i = 1; i < counts.length; i += 2) total += Number(counts[i]);
      }
      // A shard channel lives on the master owning its slot, the node that lists it.
      for (const channel of (await r.call('PUBSUB', 'SHARDCHANNELS', pattern)) as string[]) {
        const counts = (await r.call('PUBSUB', 'SHARDNUMSUB', channel)) as Array<string | number>;
        total += Number(counts[1]);
      }
    } finally {
      r.disconnect();
    }
  }
  return total;
}
