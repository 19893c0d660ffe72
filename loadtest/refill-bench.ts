/**
 * What one realtime refill costs (Realtime.refill: after a node's adapter resubscribes, every local
 * socket is refilled from PostgreSQL): its wall time and the number of database queries it makes,
 * for `CONVERSATIONS` chat sessions with `TABS` customer sockets each, on one in-process gateway
 * against the real PostgreSQL and Redis (.ci/services.sh). By default nothing was missed, so each
 * delivery's read finds nothing (the refill's fixed cost); with REFILL_MISSED=n, n messages per
 * conversation are inserted behind the fan-out's back before each run, and every socket must get
 * them (counted).
 *
 *   source .ci/services.sh && start_services && npx tsx loadtest/refill-bench.ts; stop_services
 */
import type { Socket } from 'socket.io-client';
import { CONSUMER_NAMESPACE } from '../src/gateway/chat/events.js';
import { newSession, socketFor } from '../test/chat/helpers.js';
import { putEndpoint } from '../test/chat/routing-helpers.js';
import { startNexus } from '../test/helpers/nexus.js';
import { createTenant } from '../test/helpers/tenants.js';

const CONVERSATIONS = Number(process.env.REFILL_CONVERSATIONS ?? 250);
const TABS = Number(process.env.REFILL_TABS ?? 2);
const RUNS = Number(process.env.REFILL_RUNS ?? 5);
/** Messages per conversation committed behind the fan-out's back before each run (what a refill finds). */
const MISSED = Number(process.env.REFILL_MISSED ?? 0);

async function main(): Promise<void> {
  const t = await startNexus({ engine: 'real' });
  const sockets: Socket[] = [];
  try {
    const tenant = await createTenant(t);
    await putEndpoint(t, tenant, 'web', { queue: 'support' });
    const sessions = [];
    for (let i = 0; i < CONVERSATIONS; i++) {
      for (;;) {
        // The tenant key's token bucket (120 by default) refills at its pace: wait for it.
        const s = await newSession(t, tenant).catch((err: Error) => {
          if (!/HTTP 429/.test(err.message)) throw err;
          return undefined;
        });
        if (s) {
          sessions.push(s);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    for (const s of sessions)
      for (let k = 0; k < TABS; k++)
        sockets.push(
          await socketFor(t.url, CONSUMER_NAMESPACE, { clientToken: s.clientToken, lastSeq: s.base }),
        );
    // Counts every statement the gateway sends (its pool's one instrumented path).
    const db = t.nexus.db as unknown as { instrumented: (...a: unknown[]) => Promise<unknown> };
    const original = db.instrumented.bind(db);
    let queries = 0;
    db.instrumented = (...a: unknown[]) => {
      queries++;
      return original(...a);
    };
    const realtime = (t.nexus.chat as unknown as { realtime: { refill(): Promise<number> } }).realtime;
    const runs: Array<Record<string, number>> = [];
    let received = 0;
    for (const s of sockets) s.on('message', () => received++);
    for (let i = 0; i < RUNS; i++) {
      if (MISSED)
        await t.nexus.db.query(
          `WITH c AS (
             UPDATE conversations SET last_seq = last_seq + $2, updated_at = now()
              WHERE id = ANY($1::uuid[]) RETURNING id, last_seq
           )
           INSERT INTO messages (conversation_id, seq, id, type, from_participant_id, from_type, text)
           SELECT c.id, c.last_seq - $2 + k, gen_random_uuid(), 'Text', 'bench', 'System', 'missed ' || k
             FROM c CROSS JOIN generate_series(1, $2) AS k`,
          [sessions.map((s) => s.conversationId), MISSED],
        );
      received = 0;
      queries = 0;
      const start = performance.now();
      const emitted = await realtime.refill();
      const ms = Math.round(performance.now() - start);
      // Every socket gets every missed message (they are emitted before refill() resolves).
      const want = MISSED * sockets.length;
      const until = Date.now() + 10_000;
      while (received < want && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
      runs.push({ ms, queries, emitted, received, want });
    }
    const times = runs.map((r) => r.ms).sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        sockets: sockets.length,
        conversations: CONVERSATIONS,
        runs,
        medianMs: times[Math.floor(times.length / 2)],
      }),
    );
  } finally {
    for (const s of sockets) s.close();
    await t.cleanup();
  }
}

await main();
