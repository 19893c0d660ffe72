/**
 * The chat capability's small interfaces: what the rest of the gateway (routing, the plugin bus,
 * provider channels) uses, and the hooks routing implements for it.
 */
import type {
  AgentClientToServer,
  AgentServerToClient,
  ChatMessage,
  ConversationState,
  ConversationSummary,
  MessageType,
  Participant,
  RichContent,
  Visibility,
} from './events.js';

export type Conversation = ConversationSummary & { userData: Record<string, string> };

export interface NewConversation {
  ccid: string;
  channel?: ConversationSummary['channel'];
  endpoint?: string;
  /** Default `queued`. */
  state?: ConversationState;
  queue?: string;
  customer?: ConversationSummary['customer'];
  userData?: Record<string, string>;
  contactId?: string;
}

export interface NewMessage {
  type?: MessageType;
  from: Participant;
  text?: string;
  content?: RichContent;
  /** Retries with the same id fold onto the first message (same id and seq, stored once). */
  clientMessageId?: string;
  visibility?: Visibility;
}

export interface AppendResult {
  id: string;
  seq: number;
  /** True when an earlier message with the same clientMessageId was returned instead. */
  duplicate: boolean;
  message: ChatMessage;
}

export interface StateChange {
  state?: ConversationState;
  /** `null` clears it. */
  queue?: string | null;
  agentId?: string | null;
  contactId?: string | null;
  /** Compare-and-set: the change applies only when the conversation is in one of these states. */
  ifState?: ConversationState[];
}

/**
 * Events of conversations changed through this node (each is emitted once, on the node that
 * committed it). The plugin bus and routing subscribe with `onConversationEvent`.
 */
export type ConversationEvent =
  | { type: 'conversation.created'; conversation: Conversation }
  | {
      type: 'message.created';
      ccid: string;
      conversationId: string;
      message: ChatMessage;
      /** The conversation's state when the message was committed, read under the conversation's lock. */
      conversationState?: ConversationState;
    }
  | {
      type: 'conversation.state-changed';
      conversation: Conversation;
      previous: Pick<Conversation, 'state' | 'queue' | 'agentId'>;
    }
  | { type: 'session.ended'; ccid: string; conversationId: string; sessionId: string; reason: string };

export type ConversationListener = (event: ConversationEvent) => void | Promise<void>;

/** Routing's hook for each new consumer conversation (Chat v3 session, socket, SMS). */
export interface ConversationRouter {
  /**
   * Before the conversation is created: where it starts (state, queue, contact). It is created
   * there, so it is never seen anywhere else first (a bot's conversation is never queued).
   */
  placeNew?(input: NewConversation): Promise<NewConversation>;
  /** After its creation is committed (a queued conversation is served). */
  onNewConversation(conversation: Conversation): Promise<void>;
}

/** Who is on an `/agent` socket (from the verified agent token). */
export interface AgentIdentity {
  ccid: string;
  agentId: string;
  name?: string;
  /** The socket's id, for presence bookkeeping. */
  socketId: string;
}

type AckData<E extends keyof AgentClientToServer> = Parameters<AgentClientToServer[E]>[1] extends (
  a: infer A,
) => void
  ? Exclude<A, { ok: false }> extends { ok: true } & infer T
    ? T
    : never
  : never;
type Payload<E extends keyof AgentClientToServer> = Parameters<AgentClientToServer[E]>[0];

/**
 * Routing's logic behind the `/agent` events it owns. Every method receives an already validated
 * payload and throws an AppError to refuse. Until routing registers an implementation, those
 * events answer ROUTING_UNAVAILABLE.
 */
export interface AgentActions {
  /**
   * May this verified agent token open a socket? Throws (INVALID_AGENT_TOKEN) for a token issued
   * before its agent was provisioned again: deleting an agent or its tenant revokes its tokens.
   */
  authorize?(agent: { ccid: string; agentId: string; issuedAt?: number }): Promise<void>;
  /** An agent socket connected / disconnected (presence). */
  connected?(agent: AgentIdentity): Promise<void>;
  disconnected?(agent: AgentIdentity): Promise<void>;
  setState(agent: AgentIdentity, p: Payload<'agent.state'>): Promise<AckData<'agent.state'>>;
  /**
   * May the agent (re)join the conversation? Returns it (routing may reassign it first). The chat
   * layer then subscribes the socket and replays from `lastSeq`.
   */
  join(agent: AgentIdentity, conversationId: string): Promise<Conversation>;
  transfer(
    agent: AgentIdentity,
    p: Payload<'conversation.transfer'>,
  ): Promise<AckData<'conversation.transfer'>>;
  done(agent: AgentIdentity, p: Payload<'conversation.done'>): Promise<void>;
  list(
    agent: AgentIdentity,
    p: NonNullable<Payload<'conversation.list'>>,
  ): Promise<AckData<'conversation.list'>>;
  suggestionFeedback(agent: AgentIdentity, p: Payload<'suggestion.feedback'>): Promise<void>;
  /** An earlier conversation of the contact of a conversation the agent holds, with its transcript. */
  history(agent: AgentIdentity, p: Payload<'contact.history'>): Promise<AckData<'contact.history'>>;
  /**
   * May the agent write into (and type in) the conversation? Default without routing: it is the
   * conversation's assigned agent.
   */
  canWrite?(agent: AgentIdentity, conversation: Conversation): Promise<boolean>;
}

/** Delivers agent-side events to every socket of an agent, on every node. */
export interface AgentNotifier {
  /**
   * `conversation.assigned` also subscribes the agent's sockets to the conversation, so that live
   * messages follow the transcript in the payload with no gap and no duplicate.
   */
  notifyAgent<E extends keyof AgentServerToClient>(
    ccid: string,
    agentId: string,
    event: E,
    payload: Parameters<AgentServerToClient[E]>[0],
  ): Promise<void>;
  /** To every agent socket subscribed to the conversation (`conversation.updated`, `suggestion`). */
  notifyConversation<E extends keyof AgentServerToClient>(
    conversationId: string,
    event: E,
    payload: Parameters<AgentServerToClient[E]>[0],
  ): Promise<void>;
  /** Unsubscribes the agent's sockets from the conversation (transfer, done). */
  removeAgent(ccid: string, agentId: string, conversationId: string): Promise<void>;
}
