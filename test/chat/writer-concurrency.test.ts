/**
 * The group-commit writer with several batches in flight (PostgreSQL; PGlite commits one at a
 * time): a conversation is in at most one batch at a time, its seqs follow the append order with
 * no gap, and a clientMessageId sent to two writers (two nodes) at once is stored once, both
 * answered with the original, no seq burnt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatService } from '../../src/gateway/chat/service.js';
import { GroupCommitWriter } from '../../src/gateway/chat/writer.js';
import type { AppError } from '../../src/shared/errors.js';
import { createLogger } from '../../src/shared/logger.js';
import { engines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';

const customer = { participantId: 'p1', type: 'Customer' as const };

describe.each(engines())('group-commit writer, batches in flight, on %s engines', (engine) => {
  let t: TestNexus;
  let tenant: TestTenant;
  let chat: ChatService;
  beforeAll(async () => {
    // Small batches so that one burst of appends makes many of them.
    t = await startNexus({
      engine,
      nexus: { chat: { commitWindowMs: 1, commitMaxBatch: 8, maxInflightCommits: 4 } },
    });
    tenant = await createTenant(t);
    chat = t.nexus.chat;
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const conversations = (n: number) =>
    Promise.all(
      Array.from({ length: n }, () => chat.createConversation({ ccid: tenant.ccid, endpoint: 'w' })),
    );
  const stored = async (id: string) =>
    (
      await t.nexus.db.query<{ seq: string; text: string; client_message_id: string }>(
        'SELECT seq, text, client_message_id FROM messages WHERE conversation_id = $1 ORDER BY seq',
        [id],
      )
    ).rows.map((r) => ({ seq: Number(r.seq), text: r.text, cmid: r.client_message_id }));

  it('runs batches at once, a conversation in one of them at a time, seqs in append order without gaps', async () => {
    const convs = await conversations(40);
    const perConv = 15;
    let active = 0;
    let maxActive = 0;
    const inBatch = new Set<string>();
    let pinnedTwice = 0;
    const off = chat.addTxHook(async (q, committed) => {
      const ids = new Set(committed.map((c) => c.message.conversationId));
      for (const id of ids) if (inBatch.has(id)) pinnedTwice++;
      for (const id of ids) inBatch.add(id);
      maxActive = Math.max(maxActive, ++active);
      try {
        // Hold the transaction open a moment so that batches that can overlap do.
        await q.query('SELECT pg_sleep(0.02)');
      } finally {
        active--;
        for (const id of ids) inBatch.delete(id);
      }
    });
    try {
      // Round robin: every conversation's k-th message is appended before any (k+1)-th.
      const sends = [];
      for (let k = 0; k < perConv; k++)
        for (const c of convs)
          sends.push(
            chat
              .append(
                c.id,
                { from: customer, text: `t${k}`, clientMessageId: `m${k}` },
                { ccid: tenant.ccid },
              )
              .then((r) => ({ conv: c.id, k, seq: r.seq, duplicate: r.duplicate })),
          );
      const results = await Promise.all(sends);
      expect(pinnedTwice).toBe(0);
      if (engine === 'real') expect(maxActive).toBeGreaterThan(1);
      else expect(maxActive).toBe(1);
      expect(maxActive).toBeLessThanOrEqual(4);
      expect(results.every((r) => !r.duplicate)).toBe(true);
      for (const c of convs) {
        const mine = results.filter((r) => r.conv === c.id).sort((a, b) => a.k - b.k);
        expect(mine.map((r) => r.seq)).toEqual(Array.from({ length: perConv }, (_, i) => i + 1));
        expect((await stored(c.id)).map((r) => r.text)).toEqual(
          Array.from({ length: perConv }, (_, i) => `t${i}`),
        );
        expect((await chat.get(c.id))?.lastSeq).toBe(perConv);
      }
    } finally {
      off();
    }
  });

  it('stores once a clientMessageId sent to two nodes at once, answering both with the original', async () => {
    // A second writer on its own connections is what another node's writer is.
    const other = new GroupCommitWriter(t.nexus.db, {
      windowMs: 0,
      maxBatch: 16,
      maxInflight: engine === 'real' ? 4 : 1,
      log: createLogger({ level: 'silent' }),
      onCommitted: () => undefined,
    });
    try {
      const convs = await conversations(8);
      const perConv = 20;
      const pairs = [];
      for (let k = 0; k < perConv; k++)
        for (const c of convs) {
          const m = { from: customer, text: `r${k}`, clientMessageId: `r${k}` };
          pairs.push(
            Promise.all([chat.append(c.id, m, { ccid: tenant.ccid }), other.append(c.id, m, tenant.ccid)]),
          );
        }
      for (const [a, b] of await Promise.all(pairs)) {
        expect(b.id).toBe(a.id);
        expect(b.seq).toBe(a.seq);
        expect([a.duplicate, b.duplicate].sort()).toEqual([false, true]);
      }
      for (const c of convs) {
        const rows = await stored(c.id);
        expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: perConv }, (_, i) => i + 1));
        expect(new Set(rows.map((r) => r.cmid)).size).toBe(perConv);
        expect((await chat.get(c.id))?.lastSeq).toBe(perConv);
      }
    } finally {
      await other.close();
    }
  });

  it('folds repeats within one batch onto the first, and never onto another tenant', async () => {
    const [c] = await conversations(1);
    const otherTenant = await createTenant(t);
    const m = { from: customer, text: 'once', clientMessageId: 'same' };
    const [stranger, first, second, third] = await Promise.allSettled([
      chat.append(c.id, m, { ccid: otherTenant.ccid }),
      chat.append(c.id, m, { ccid: tenant.ccid }),
      chat.append(c.id, m, { ccid: tenant.ccid }),
      chat.append(c.id, m),
    ]);
    expect(stranger.status === 'rejected' && (stranger.reason as AppError).errorName).toBe(
      'CONVERSATION_NOT_FOUND',
    );
    const ok = [first, second, third].map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    expect(ok.map((r) => r?.seq)).toEqual([1, 1, 1]);
    expect(ok.map((r) => r?.duplicate)).toEqual([false, true, true]);
    expect(new Set(ok.map((r) => r?.id)).size).toBe(1);
    expect(await stored(c.id)).toEqual([{ seq: 1, text: 'once', cmid: 'same' }]);
  });
});
