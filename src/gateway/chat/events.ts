/**
 * The realtime contract (DESIGN §6), typed once and imported by the server, the widget, the agent
 * console, the tests and the load generators. Keep this file free of Node-only imports: the browser
 * bundles include it.
 */

export const SOCKET_PATH = '/chat/v3/socket.io';
export const CONSUMER_NAMESPACE = '/consumer';
export const AGENT_NAMESPACE = '/agent';

export type MessageType =
  | 'Text'
  | 'Notice'
  | 'ParticipantJoined'
  | 'ParticipantLeft'
  | 'File'
  | 'Rich'
  | 'TypingStarted'
  | 'TypingStopped';

export type ParticipantType = 'Customer' | 'Agent' | 'Bot' | 'System';
export type Visibility = 'all' | 'agents';

export type ConversationState = 'bot' | 'queued' | 'assigned' | 'asynchold' | 'undelivered' | 'done';

export interface Participant {
  participantId: string;
  type: ParticipantType;
  nickname?: string;
}

/** Quick replies, cards, attachments: optional structured content next to `text`. */
export interface RichContent {
  quickReplies?: Array<{ text: string; payload?: string }>;
  cards?: Array<{
    title: string;
    subtitle?: string;
    imageUrl?: string;
    buttons?: Array<{ text: string; payload?: string; url?: string }>;
  }>;
  attachments?: Array<{ url: string; mediaType?: string; name?: string; size?: number }>;
  [key: string]: unknown;
}

export interface ChatMessage {
  id: string;
  conversationId: string;
  /** 1, 2, 3… per conversation, no gaps. */
  seq: number;
  type: MessageType;
  from: Participant;
  text?: string;
  content?: RichContent;
  clientMessageId?: string;
  /** ISO 8601. */
  timestamp: string;
  visibility: Visibility;
  /** Delivery state for messages that leave through a provider (SMS, email). */
  delivery?: { state: 'queued' | 'sent' | 'delivered' | 'failed' | 'undelivered'; at: string };
}

export interface ErrorBody {
  code: number;
  name: string;
  message: string;
  retryable: boolean;
}

export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: ErrorBody };

export interface SendPayload {
  clientMessageId: string;
  type?: 'Text' | 'File' | 'Rich';
  text?: string;
  content?: RichContent;
}

export interface AgentSendPayload extends SendPayload {
  conversationId: string;
  /** `agents`: an internal note, never shown to the customer. */
  visibility?: Visibility;
}

export interface ConversationSummary {
  id: string;
  ccid: string;
  state: ConversationState;
  channel: 'chat' | 'sms' | 'email';
  endpoint: string;
  queue?: string;
  agentId?: string;
  customer: { nickname?: string; firstName?: string; lastName?: string; email?: string; phone?: string };
  contactId?: string;
  lastSeq: number;
  createdAt: string;
  updatedAt: string;
}

export interface Suggestion {
  id: string;
  conversationId: string;
  text: string;
  content?: RichContent;
  source?: string;
  createdAt: string;
}

/** Consumer auth: `io('/consumer', { auth: { clientToken, lastSeq } })`. */
export interface ConsumerAuth {
  clientToken: string;
  lastSeq?: number;
}

/** Agent auth: `io('/agent', { auth: { token } })`. */
export interface AgentAuth {
  token: string;
}

export interface ConsumerClientToServer {
  'message.send': (p: SendPayload, ack: (a: Ack<{ id: string; seq: number }>) => void) => void;
  typing: (p: { typing: boolean }) => void;
  'session.end': (p: Record<string, never> | undefined, ack: (a: Ack) => void) => void;
  /** Replays every message after `lastSeq` (also done at connect from auth.lastSeq). */
  resume: (p: { lastSeq: number }, ack: (a: Ack<{ replayed: number }>) => void) => void;
}

export interface ConsumerServerToClient {
  message: (m: ChatMessage) => void;
  typing: (p: { from: Participant; typing: boolean }) => void;
  'session.ended': (p: { conversationId: string; reason?: string }) => void;
  /** The node is going away: reconnect (to any node) with the last seq held. */
  reconnect: (p: { reason: string }) => void;
}

export interface AgentClientToServer {
  'agent.state': (p: { state: 'ready' | 'notready' }, ack: (a: Ack<{ state: string }>) => void) => void;
  'message.send': (p: AgentSendPayload, ack: (a: Ack<{ id: string; seq: number }>) => void) => void;
  typing: (p: { conversationId: string; typing: boolean }) => void;
  'conversation.join': (
    p: { conversationId: string; lastSeq?: number },
    ack: (a: Ack<{ conversation: ConversationSummary; replayed: number }>) => void,
  ) => void;
  'conversation.transfer': (
    p: { conversationId: string; queue?: string; agentId?: string },
    ack: (a: Ack<{ conversation: ConversationSummary }>) => void,
  ) => void;
  'conversation.done': (p: { conversationId: string }, ack: (a: Ack) => void) => void;
  /**
   * The agent's conversations in `states` (assigned and on hold by default). With `queued`: also
   * those waiting in the agent's queues, `queues` names those queues, and the socket gets
   * `queue.updated` for them from then on.
   */
  'conversation.list': (
    p: { states?: ConversationState[] } | undefined,
    ack: (a: Ack<{ conversations: ConversationSummary[]; queues?: string[] }>) => void,
  ) => void;
  /**
   * One of the contact's earlier conversations (`historyId`, from `conversation.assigned`'s
   * history) with its transcript, internal notes included, for the agent of `conversationId`.
   */
  'contact.history': (
    p: { conversationId: string; historyId: string },
    ack: (a: Ack<{ conversation: ConversationSummary; transcript: ChatMessage[] }>) => void,
  ) => void;
  'suggestion.feedback': (
    p: { suggestionId: string; action: 'used' | 'edited' | 'dismissed'; text?: string },
    ack: (a: Ack) => void,
  ) => void;
}

export interface AgentServerToClient {
  'conversation.assigned': (p: {
    conversation: ConversationSummary;
    transcript: ChatMessage[];
    /** The contact's earlier conversations, newest first. */
    history?: ConversationSummary[];
  }) => void;
  message: (m: ChatMessage) => void;
  typing: (p: { conversationId: string; from: Participant; typing: boolean }) => void;
  'conversation.updated': (p: { conversation: ConversationSummary }) => void;
  /**
   * A conversation entered or left `queue`, one of the agent's queues (to sockets that listed
   * `queued`): it waits there while `conversation.state` is `queued` and `conversation.queue` is
   * `queue`. No transcript: the summary only.
   */
  'queue.updated': (p: { queue: string; conversation: ConversationSummary }) => void;
  /** A message that left through a provider (SMS) changed delivery state. */
  'message.updated': (p: {
    conversationId: string;
    messageId: string;
    seq: number;
    delivery: NonNullable<ChatMessage['delivery']>;
  }) => void;
  suggestion: (s: Suggestion) => void;
  reconnect: (p: { reason: string }) => void;
}
