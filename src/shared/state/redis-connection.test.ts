/**
 * The watch for stuck sharded subscribers (redis-connection.ts) reaches into ioredis' private
 * fields because ioredis offers no public way: these tests fail when an ioredis upgrade renames
 * them, check that the node then says so at error level instead of running without the watch, and
 * run the release itself against a real 3-master cluster.
 */
import { once } from 'node:events';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type RedisClusterServers,
  redisServerAvailable,
  startRedisCluster,
} from '../../../test/helpers/redis-server.js';
import { createLogger } from '../logger.js';
import {
  closeClient,
  createClient,
  shardedSubscriberGroup,
  waitUntilReady,
  watchShardedSubscribers,
} from './redis-connection.js';

function capture() {
  const lines: Array<{ level: string; msg: string; [k: string]: unknown }> = [];
  const log = createLogger({
    level: 'debug',
    destination: { write: (s: string) => lines.push(JSON.parse(s)) },
  });
  return { log, lines };
}

const clusterOptions = (nodes: string) => ({ nodes, cluster: true, tls: false, password: '' });

describe('watchShardedSubscribers', () => {
  it('finds the ioredis internals it relies on in the installed version', () => {
    const client = createClient(clusterOptions('redis://127.0.0.1:1'), 'test');
    const group = shardedSubscriberGroup(client as never);
    // A string names what an upgraded ioredis no longer has: the workaround must be revisited.
    expect(group).not.toBeTypeOf('string');
    const { log, lines } = capture();
    watchShardedSubscribers(client, log)();
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    client.disconnect();
  });

  it('says so at error level when they are gone, naming what is missing', () => {
    const client = createClient(clusterOptions('redis://127.0.0.1:1'), 'test');
    // What a rename in a later ioredis looks like to the watch.
    const group = (client as unknown as { shardedSubscribers: Record<string, unknown> }).shardedSubscribers;
    group.resetting = group.isResetting;
    Reflect.deleteProperty(group, 'isResetting');
    const { log, lines } = capture();
    watchShardedSubscribers(client, log)();
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0].msg).toMatch(
      /ioredis internals changed: the watch for stuck Redis Cluster sharded subscribers is off/,
    );
    expect(errors[0].missing).toBe('ClusterSubscriberGroup#isResetting');
    expect(errors[0].ioredis).toMatch(/^\d+\.\d+\.\d+/);
    client.disconnect();
  });

  it('does nothing for a standalone client or a cluster without sharded subscribers', () => {
    const { log, lines } = capture();
    watchShardedSubscribers(
      createClient({ ...clusterOptions('redis://127.0.0.1:1'), cluster: false }, 't'),
      log,
    )();
    expect(lines).toEqual([]);
  });
});

describe.runIf(redisServerAvailable())('watchShardedSubscribers on a real cluster', () => {
  let cluster: RedisClusterServers;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('releases a reset that stays stuck while the client is ready, and the subscriptions work after', async () => {
    const sub = createClient(clusterOptions(cluster.nodes), 'test-sub');
    const { log, lines } = capture();
    try {
      await waitUntilReady(sub, cluster.nodes, 10_000);
      await sub.ssubscribe('watch-test');
      const group = shardedSubscriberGroup(sub as never);
      if (typeof group === 'string') throw new Error(`ioredis lacks ${group}`);
      // The state the defect leaves behind: the per-master subscribers stopped mid-reset, the
      // reset never ending, a later one queued. Alone, ioredis never subscribes again.
      const internal = group as unknown as { shardedSubscribers: Map<string, { stop(): void }> };
      for (const s of internal.shardedSubscribers.values()) s.stop();
      group.isResetting = true;
      group.pendingReset = null;
      (sub as Cluster).refreshSlotsCache();
      const rebuilt = once(sub, 'subscribersReady');
      const stop = watchShardedSubscribers(sub, log, 20);
      await rebuilt;
      stop();
      expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
        'redis sharded subscribers stuck after a reconnect: rebuilding them',
      ]);
      const got = once(sub, 'smessage');
      // SPUBLISH must reach the master owning the slot: through a cluster client.
      const publisher = createClient(clusterOptions(cluster.nodes), 'test-pub');
      await waitUntilReady(publisher, cluster.nodes, 10_000);
      // subscribersReady comes before the rebuilt subscriber's SSUBSCRIBE is answered: publish
      // until one arrives (bounded by the test's timeout).
      let received = false;
      void got.then(() => {
        received = true;
      });
      while (!received) {
        await publisher.spublish('watch-test', 'hello');
        await Promise.race([got, new Promise((r) => setTimeout(r, 100))]);
      }
      // A cluster re-emits its subscribers' events with three arguments.
      expect((await got).slice(0, 2)).toEqual(['watch-test', 'hello']);
      await closeClient(publisher);
    } finally {
      await closeClient(sub);
    }
  });
});
