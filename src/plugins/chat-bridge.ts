/**
 * Publishes the chat's conversation events on the plugin bus.
 *
 * The durable planners run INSIDE the transaction that commits the event's cause: a message's
 * group-commit batch (the writer's tx hook), a conversation's creation or state change (chat's
 * conversation tx hook, which routing's transactions run too). So an SMS reply, a webhook or an
 * interaction notification exists exactly when its cause does, and a crash between the commit and
 * the live publication loses none of them. Live subscribers hear of the events after the commit.
 *
 * A conversation's interaction lifecycle is derived here: `interaction.started` when it is first
 * submitted to a queue, `interaction.finished` when a started one is done, each once per
 * conversation (a row of `interaction_events`, written in the same transaction, says it was
 * published).
 */
import { randomUUID } from 'node:crypto';
import type { ChatService } from '../gateway/chat/service.js';
import type { Conversation, ConversationEvent } from '../gateway/chat/types.js';
import type { Queryable } from '../shared/db/pool.js';
import type { Logger } from '../shared/logger.js';
import type { EventBus } from './bus.js';
import type { BusEvent, BusEventOf, ChannelType, InteractionEntity } from './types.js';

type Channel = ChannelType;

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
        channelType: e.conversation.channel,
        data: { conversation: e.conversation },
      };
    case 'conversation.state-changed':
      return {
        ...base,
        type: 'conversation.state-changed',
        ccid: e.conversation.ccid,
        conversationId: e.conversation.id,
        channelType: e.conversation.channel,
        data: { conversation: e.conversation, previous: e.previous },
      };
    default:
      return undefined;
  }
}

/** States in which a conversation has been submitted to a queue. */
const SUBMITTED = new Set<string>(['queued', 'assigned', 'asynchold']);

/** Which step of the interaction lifecycle a conversation event is, if any. */
export function lifecycleOf(e: ConversationEvent): 'started' | 'finished' | undefined {
  if (e.type === 'conversation.created') return SUBMITTED.has(e.conversation.state) ? 'started' : undefined;
  if (e.type !== 'conversation.state-changed') return undefined;
  if (e.conversation.state === 'done') return e.previous.state !== 'done' ? 'finished' : undefined;
  // A bot conversation is submitted to a queue when the bot hands it over.
  if (e.previous.state === 'bot' && SUBMITTED.has(e.conversation.state)) return 'started';
  return undefined;
}

/** The interaction webhooks' entity of a conversation (`selfUri` relative to the gateway's URL). */
export function entityOf(c: Pick<Conversation, 'id' | 'channel'>): InteractionEntity {
  return {
    id: c.id,
    mediaType: c.channel === 'email' ? 'email' : 'chat',
    interactionSubtype: c.channel === 'sms' ? 'SMS' : 'InboundNew',
    selfUri: `/nexus/v3/interactions/${c.id}`,
  };
}

/**
 * The bus events of a conversation event, inside its transaction: the event itself and, the first
 * time its conversation reaches that step, `interaction.started` or `interaction.finished`.
 */
export async function conversationBusEvents(e: ConversationEvent, q: Queryable): Promise<BusEvent[]> {
  const ev = conversationBusEvent(e);
  if (!ev) return [];
  const step = lifecycleOf(e);
  if (!step || !('conversation' in e)) return [ev];
  const c = e.conversation;
  const id = randomUUID();
  // Only an interaction that started finishes: a conversation a bot answered and ended itself never
  // reached a queue, so it was never an agent interaction.
  const first = await q.query(
    `INSERT INTO interaction_events (conversation_id, event, event_id)
     SELECT $1::uuid, $2::text, $3::uuid WHERE $2::text = 'started'
        OR EXISTS (SELECT 1 FROM interaction_events WHERE conversation_id = $1::uuid AND event = 'started')
     ON CONFLICT DO NOTHING RETURNING event_id`,
    [c.id, step, id],
  );
  if (first.rows.length === 0) return [ev];
  const interaction: BusEventOf<'interaction.started' | 'interaction.finished'> = {
    id,
    type: step === 'started' ? 'interaction.started' : 'interaction.finished',
    ccid: c.ccid,
    conversationId: c.id,
    channelType: c.channel,
    timestamp: ev.timestamp,
    data: { entity: entityOf(c), conversation: c },
  };
  return [ev, interaction as BusEvent];
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
  // Conversation events published inside their transaction, until the commit is announced (the
  // event objects are the keys: one whose transaction rolled back is simply collected).
  const recorded = new WeakMap<ConversationEvent, { events: BusEvent[]; enqueued: number }>();

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

  const offConversationHook = chat.addConversationTxHook(async (q, events) => {
    for (const e of events) {
      const busEvents = await conversationBusEvents(e, q);
      recorded.set(e, { events: busEvents, enqueued: await bus.publishInTx(q, busEvents) });
    }
  });

  const offEvents = chat.onConversationEvent(async (e) => {
    if (e.type === 'message.created') {
      const ev = conversationBusEvent(e, channelOf.get(e.conversationId));
      const enqueued = enqueuedFor.delete(e.message.id) ? 1 : 0;
      if (ev) bus.published([ev], enqueued);
      return;
    }
    if (e.type === 'conversation.created') channelOf.set(e.conversation.id, e.conversation.channel);
    const done = recorded.get(e);
    if (done) {
      recorded.delete(e);
      bus.published(done.events, done.enqueued);
      return;
    }
    if (e.type !== 'conversation.created' && e.type !== 'conversation.state-changed') return;
    // A change its producer did not record in its own transaction: published in one of its own.
    try {
      const r = await db.tx(async (q) => {
        const events = await conversationBusEvents(e, q);
        return { events, enqueued: await bus.publishInTx(q, events) };
      });
      bus.published(r.events, r.enqueued);
    } catch (err) {
      log.error(
        { err, event: e.type, conversationId: e.conversation.id },
        'publishing a conversation event failed',
      );
    }
  });

  return () => {
    offHook();
    offConversationHook();
    offEvents();
  };
}
