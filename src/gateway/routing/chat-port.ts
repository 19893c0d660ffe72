/** Adapts chat's service to the narrow ChatPort the router uses. */
import type { Database } from '../../shared/db/pool.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { ChatService } from '../chat/service.js';
import type { Conversation } from '../chat/types.js';
import { summary } from './agent-view.js';
import type { ChatPort } from './types.js';

export function chatPort(chat: ChatService, db: Database, log: Logger): ChatPort {
  return {
    get: (id, ccid) => chat.get(id, ccid),
    transcript: (id, afterSeq = 0) => chat.transcript(id, { audience: 'agent', afterSeq }),
    async append(id, message) {
      try {
        return await chat.append(id, message);
      } catch (err) {
        // A notice into a conversation that closed meanwhile is not worth failing the transition.
        if (err instanceof AppError && err.errorName === ('CONVERSATION_CLOSED' as never)) return undefined;
        throw err;
      }
    },
    recordStateChange: (q, before, after) => chat.recordStateChange(q, before, after),
    async stateChanged(before: Conversation, after: Conversation) {
      chat.announceStateChange(before, after);
      await chat.notifier.notifyConversation(after.id, 'conversation.updated', {
        conversation: summary(after),
      });
    },
    async endSessions(conversationId, reason) {
      const r = await db.query<{ id: string }>(
        'SELECT id FROM chat_sessions WHERE conversation_id = $1 AND ended_at IS NULL',
        [conversationId],
      );
      for (const { id } of r.rows) {
        await chat
          .endSession(id, reason)
          .catch((err) => log.warn({ err, conversationId }, 'ending a session failed'));
      }
    },
    notifier: chat.notifier,
  };
}
