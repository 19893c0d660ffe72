/**
 * A real `redis-server` that a test starts, stops and starts again on its own free port (outage
 * tests), and a three-node Redis Cluster built from such servers (optionally over TLS), which can
 * be stopped and started as a whole. Suites that need them run when
 * the binary is installed, and CI fails when it is not.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export function redisServerAvailable(): boolean {
  const ok = spawnSync('redis-server', ['--version']).status === 0;
  if (!ok && process.env.CI === 'true') throw new Error('CI must install redis-server (see .ci/run)');
  return ok;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Kills the server abruptly (a crash, not a shutdown) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  destroy(): Promise<void>;
}

export async function startRedisServer(args: string[] = [], port?: number): Promise<RedisServer> {
  const p = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'redis-test-'));
  let child: ChildProcess | undefined;

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const c = spawn(
        'redis-server',
        [
          '--port',
          String(p),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          ...args,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child = c;
      let out = '';
      const onData = (b: Buffer) => {
        out += b.toString();
        if (out.includes('Ready to accept connections')) {
          c.stdout?.off('data', onData);
          c.stdout?.resume();
          resolve();
        }
      };
      c.stdout?.on('data', onData);
      c.once('exit', (code) =>
        reject(new Error(`redis-server on ${p} exited with ${code}: ${out.slice(-500)}`)),
      );
    });

  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };

  await start();
  return {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    stop,
    start,
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisClusterServers {
  /** The seed nodes, comma-separated (`rediss://` with TLS). */
  readonly nodes: string;
  /** Kills all three masters at once (an outage of the whole cluster). */
  stop(): Promise<void>;
  /** Starts them again on their ports and node files; resolves once the cluster is ok again. */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** TLS for the cluster: its clients, and its bus between the nodes (`tls-cluster`). */
export interface ClusterTls {
  cert: string;
  key: string;
}

/**
 * Three masters sharing the 16384 slots; resolves once every node reports `cluster_state:ok`.
 * With `tls` the nodes listen on TLS ports only, talk TLS on the cluster bus, and announce their
 * TLS ports to clients.
 */
export async function startRedisCluster(opts: { tls?: ClusterTls } = {}): Promise<RedisClusterServers> {
  const servers: RedisServer[] = [];
  const busPorts: number[] = [];
  const tls = opts.tls;
  const admin = (s: RedisServer) =>
    new Redis({
      port: s.port,
      host: '127.0.0.1',
      lazyConnect: true,
      ...(tls ? { tls: { ca: readFileSync(tls.cert) } } : {}),
    });
  const converged = async () => {
    const admins = servers.map(admin);
    try {
      // Gossip has no event a client can wait on: poll, bounded.
      const deadline = Date.now() + 20_000;
      for (;;) {
        const infos = await Promise.all(
          admins.map((a) => (a.call('CLUSTER', 'INFO') as Promise<string>).catch((e: Error) => e.message)),
        );
        if (infos.every((t) => t.includes('cluster_state:ok') && t.includes('cluster_known_nodes:3'))) return;
        if (Date.now() > deadline) throw new Error(`the test cluster did not converge: ${infos[0]}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      for (const a of admins) a.disconnect();
    }
  };
  try {
    for (let i = 0; i < 3; i++) {
      const busPort = await freePort();
      busPorts.push(busPort);
      const port = await freePort();
      const tlsArgs = tls
        ? [
            '--port',
            '0',
            '--tls-port',
            String(port),
            '--tls-cluster',
            'yes',
            '--tls-cert-file',
            tls.cert,
            '--tls-key-file',
            tls.key,
            '--tls-ca-cert-file',
            tls.cert,
            '--tls-auth-clients',
            'no',
          ]
        : [];
      servers.push(
        await startRedisServer(
          [
            '--cluster-enabled',
            'yes',
            '--cluster-port',
            String(busPort),
            '--cluster-config-file',
            `nodes-${busPort}.conf`,
            '--cluster-node-timeout',
            '2000',
            ...tlsArgs,
          ],
          port,
        ),
      );
    }
    const admins = servers.map(admin);
    try {
      const ranges = [
        [0, 5460],
        [5461, 10922],
        [10923, 16383],
      ];
      for (let i = 0; i < 3; i++)
        await admins[i].call('CLUSTER', 'ADDSLOTSRANGE', ranges[i][0], ranges[i][1]);
      for (let i = 1; i < 3; i++) {
        // The bus port is not port + 10000 here, so MEET must name it.
        await admins[0].call('CLUSTER', 'MEET', '127.0.0.1', servers[i].port, busPorts[i]);
      }
    } finally {
      for (const a of admins) a.disconnect();
    }
    await converged();
  } catch (err) {
    await Promise.all(servers.map((s) => s.destroy()));
    throw err;
  }
  const scheme = tls ? 'rediss' : 'redis';
  return {
    nodes: servers.map((s) => `${scheme}://127.0.0.1:${s.port}`).join(','),
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
    },
    // Each node reads back its node file (its id, its slots, its peers) and meets them again.
    start: async () => {
      await Promise.all(servers.map((s) => s.start()));
      await converged();
    },
    destroy: async () => {
      await Promise.all(servers.map((s) => s.destroy()));
    },
  };
}
