/**
 * Publishes the chat's conversation events on the plugin bus.
 *
 * Messages: the durable planners run INSIDE the group-commit transaction of the batch (through the
 * writer's tx hook), so an SMS reply or a webhook exists exactly when its message does; live
 * subscribers hear of it after the commit. Conversation events (created, state changed) are
 * published after the change commits, in their own transaction.
 */
import { randomUUID } from 'node:crypto';
import type { ChatService } from '../gateway/chat/service.js';
import type { ConversationEvent } from '../gateway/chat/types.js';
import type { Queryable } from '../shared/db/pool.js';
import type { Logger } from '../shared/logger.js';
import type { EventBus } from './bus.js';
import type { BusEvent } from './types.js';

type Channel = NonNullable<BusEvent['channelType']>;

export function conversationBusEvent(e: ConversationEvent, channelType?: Channel): BusEvent | undefined {
  const base = { id: randomUUID(), timestamp: new Date().toISOString() };
  switch (e.type) {
    case 'message.created':
      return {
        ...base,
        type: 'message.created',
        ccid: e.ccid,
        conversationId: e.conversationId,
        channelType,
        data: { message: e.message },
      };
    case 'conversation.created':
      return {
        ...base,
        type: 'conversation.created',
        ccid: e.conversation.ccid,
        conversationId: e.conversation.id,
        channelType: e.conversation.channel as Channel,
        data: { conversation: e.conversation },
      };
    case 'conversation.state-changed':
      return {
        ...base,
        type: 'conversation.state-changed',
        ccid: e.conversation.ccid,
        conversationId: e.conversation.id,
        channelType: e.conversation.channel as Channel,
        data: { conversation: e.conversation, previous: e.previous },
      };
    default:
      return undefined;
  }
}

export function bridgeChatToBus(
  chat: ChatService,
  bus: EventBus,
  db: { tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> },
  log: Logger,
): () => void {
  // Message ids whose batch wrote outbox items (the outbox is woken for them after the commit),
  // and the channel of recent conversations. A rolled-back batch leaves entries behind: both are
  // bounded.
  const enqueuedFor = new Set<string>();
  const channelOf = new Map<string, Channel>();
  const bound = () => {
    if (enqueuedFor.size > 10_000) enqueuedFor.clear();
    if (channelOf.size > 50_000) channelOf.clear();
  };

  const offHook = chat.addTxHook(async (q, committed) => {
    if (!bus.hasPlanners()) return;
    bound();
    // The writer read each conversation's channel under its lock: select only what it did not give.
    for (const c of committed) if (c.channel) channelOf.set(c.message.conversationId, c.channel as Channel);
    const ids = [...new Set(committed.filter((c) => !c.channel).map((c) => c.message.conversationId))];
    if (ids.length) {
      const r = await q.query<{ id: string; channel: Channel }>(
        'SELECT id, channel FROM conversations WHERE id = ANY($1::uuid[])',
        [ids],
      );
      for (const row of r.rows) channelOf.set(row.id, row.channel);
    }
    const events = committed.map(
      (c) =>
        conversationBusEvent(
          {
            type: 'message.created',
            ccid: c.ccid,
            conversationId: c.message.conversationId,
            message: c.message,
          },
          channelOf.get(c.message.conversationId),
        )!,
    );
    const n = await bus.publishInTx(q, events);
    if (n > 0) for (const c of committed) enqueuedFor.add(c.message.id);
  });

  const offEvents = chat.onConversationEvent(async (e) => {
    if (e.type === 'message.created') {
      const ev = conversationBusEvent(e, channelOf.get(e.conversationId));
      const enqueued = enqueuedFor.delete(e.message.id) ? 1 : 0;
      if (ev) bus.published([ev], enqueued);
      return;
    }
    const ev = conversationBusEvent(e);
    if (!ev) return;
    if (e.type === 'conversation.created')
      channelOf.set(e.conversation.id, e.conversation.channel as Channel);
    try {
      await bus.publish(db, [ev]);
    } catch (err) {
      log.error(
        { err, event: ev.type, conversationId: ev.conversationId },
        'publishing a conversation event failed',
      );
    }
  });

  return () => {
    offHook();
    offEvents();
  };
}
