/** What the router needs from the chat capability, and what it tells the rest of the gateway. */
import type { Queryable } from '../../shared/db/pool.js';
import type { ChatMessage } from '../chat/events.js';
import type { AgentNotifier, Conversation, NewMessage } from '../chat/types.js';

/** The slice of chat's service the router uses (given, never reached for). */
export interface ChatPort {
  get(conversationId: string, ccid?: string): Promise<Conversation | undefined>;
  /** The agent-audience transcript (internal notes included) after `afterSeq`. */
  transcript(conversationId: string, afterSeq?: number): Promise<ChatMessage[]>;
  /** Appends a message through chat's write path (stored, sequenced, fanned out). */
  append(conversationId: string, message: NewMessage): Promise<unknown>;
  /**
   * Inside the transaction of a state change, before its commit: the plugin bus writes the
   * deliveries it causes (interaction webhooks) in that same transaction. Without it (a port
   * with no bus), `stateChanged` alone announces the change.
   */
  recordStateChange?(q: Queryable, before: Conversation, after: Conversation): Promise<void>;
  /** Tells chat's listeners (plugin bus, sockets) about a state change the router committed. */
  stateChanged(before: Conversation, after: Conversation): Promise<void>;
  /** Ends the customer's chat sessions of a conversation marked Done. */
  endSessions(conversationId: string, reason: string): Promise<void>;
  readonly notifier: AgentNotifier;
}

/** One state change the router committed, to announce after the commit. */
export interface Change {
  before: Conversation;
  after: Conversation;
}
