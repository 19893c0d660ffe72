import { describe, expect, it } from 'vitest';
import { OrderedDelivery } from './delivery.js';
import type { ChatMessage } from './events.js';

const msg = (seq: number, visibility: 'all' | 'agents' = 'all'): ChatMessage => ({
  id: `id-${seq}`,
  conversationId: 'c',
  seq,
  type: 'Text',
  from: { participantId: 'p', type: 'Customer' },
  text: `m${seq}`,
  timestamp: new Date(0).toISOString(),
  visibility,
});

/** A database of `n` messages that can grow, with a gate to hold a load mid-flight. */
function harness(n: number, audience: 'customer' | 'agent' = 'customer', cursor = 0) {
  const db: ChatMessage[] = Array.from({ length: n }, (_, i) => msg(i + 1));
  const emitted: number[] = [];
  let gate: Promise<void> | undefined;
  let loads = 0;
  const d = new OrderedDelivery({
    cursor,
    audience,
    load: async (after, limit) => {
      loads++;
      const snapshot = db.filter((m) => m.seq > after).slice(0, limit);
      if (gate) await gate;
      return snapshot;
    },
    emit: (m) => emitted.push(m.seq),
    onError: () => undefined,
  });
  return {
    d,
    db,
    emitted,
    loads: () => loads,
    hold() {
      let release!: () => void;
      gate = new Promise((r) => {
        release = r;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

describe('OrderedDelivery', () => {
  it('replays from the cursor, then buffers live messages that race the replay, without gap or duplicate', async () => {
    const h = harness(5, 'customer', 2);
    const release = h.hold();
    const filling = h.d.fill();
    // Committed and fanned out while the replay's read is in flight (it saw only 1..5).
    h.db.push(msg(6), msg(7));
    h.d.push(msg(4));
    h.d.push(msg(7));
    h.d.push(msg(6));
    release();
    expect(await filling).toBe(3);
    await new Promise((r) => setImmediate(r));
    expect(h.emitted).toEqual([3, 4, 5, 6, 7]);
  });

  it('puts out-of-order live messages in order and fills a real gap from the database', async () => {
    const h = harness(0);
    h.db.push(msg(1), msg(2), msg(3));
    h.d.push(msg(1));
    h.d.push(msg(3)); // 2 was committed by another node and is still on its way
    await new Promise((r) => setTimeout(r, 10));
    expect(h.emitted).toEqual([1, 2, 3]);
    h.d.push(msg(2)); // arrives late: a duplicate now
    expect(h.emitted).toEqual([1, 2, 3]);
  });

  it('moves a customer cursor over internal notes without showing them', async () => {
    const h = harness(0, 'customer');
    h.db.push(msg(1), msg(2, 'agents'), msg(3));
    h.d.push(h.db[0]);
    h.d.push(h.db[1]);
    h.d.push(h.db[2]);
    expect(h.emitted).toEqual([1, 3]);
    expect(h.d.cursor).toBe(3);
    expect(await h.d.resume(0)).toBe(2);
    expect(h.emitted).toEqual([1, 3, 1, 3]);
  });

  it('shows notes to agents and pages long replays', async () => {
    const h = harness(1200, 'agent');
    h.db[10] = msg(11, 'agents');
    expect(await h.d.fill()).toBe(1200);
    expect(h.emitted).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
    expect(h.loads()).toBe(3);
  });

  it('emits nothing after close', () => {
    const h = harness(0);
    h.d.close();
    h.d.push(msg(1));
    expect(h.emitted).toEqual([]);
  });
});
