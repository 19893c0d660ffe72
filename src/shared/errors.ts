/**
 * The one error catalog. Every error a client can see has a stable numeric `code` (sent as
 * `status.code` in the REST envelope and `error.code` in socket acks), a stable `name`, an HTTP
 * status and whether retrying the same request may succeed. `docs/errors.md` documents every
 * entry; a test keeps the two in step.
 */
export interface ErrorSpec {
  readonly code: number;
  readonly http: number;
  readonly retryable: boolean;
  readonly message: string;
}

export const ERRORS = {
  // 1xxx: the request itself
  BAD_REQUEST: { code: 1000, http: 400, retryable: false, message: 'The request is not valid.' },
  MALFORMED_JSON: { code: 1001, http: 400, retryable: false, message: 'The request body is not valid JSON.' },
  UNSUPPORTED_MEDIA_TYPE: {
    code: 1002,
    http: 415,
    retryable: false,
    message: 'Send the body as application/json or application/x-www-form-urlencoded.',
  },
  PAYLOAD_TOO_LARGE: { code: 1003, http: 413, retryable: false, message: 'The request body is too large.' },
  VALIDATION_FAILED: {
    code: 1004,
    http: 400,
    retryable: false,
    message: 'A field of the request is not valid.',
  },
  NOT_FOUND: { code: 1005, http: 404, retryable: false, message: 'There is nothing at this path.' },
  METHOD_NOT_ALLOWED: {
    code: 1006,
    http: 405,
    retryable: false,
    message: 'This path does not accept that method.',
  },
  CONFLICT: { code: 1007, http: 409, retryable: false, message: 'The resource already exists.' },
  UNKNOWN_SERVICE: {
    code: 1008,
    http: 400,
    retryable: false,
    message: 'The service name is not one this gateway knows.',
  },
  // 2xxx: identity and permissions
  UNAUTHENTICATED: { code: 2000, http: 401, retryable: false, message: 'A valid credential is required.' },
  INVALID_API_KEY: {
    code: 2001,
    http: 401,
    retryable: false,
    message: 'The x-api-key is unknown, revoked, disabled or expired.',
  },
  INVALID_TOKEN: { code: 2002, http: 401, retryable: false, message: 'The bearer token is not valid.' },
  FORBIDDEN: {
    code: 2003,
    http: 403,
    retryable: false,
    message: 'The credential does not grant this operation.',
  },
  TENANT_MISMATCH: {
    code: 2004,
    http: 403,
    retryable: false,
    message: 'The credential belongs to another tenant.',
  },
  CCID_REQUIRED: {
    code: 2005,
    http: 400,
    retryable: false,
    message: 'A cluster credential must name the tenant in the x-ccid header.',
  },
  RATE_LIMITED: {
    code: 2006,
    http: 429,
    retryable: true,
    message: 'Too many requests for this API key; retry after the time in Retry-After.',
  },
  INVALID_SIGNATURE: {
    code: 2007,
    http: 401,
    retryable: false,
    message: 'The request signature does not verify.',
  },
  // 3xxx: resources
  TENANT_NOT_FOUND: { code: 3000, http: 404, retryable: false, message: 'The tenant does not exist.' },
  API_KEY_NOT_FOUND: { code: 3001, http: 404, retryable: false, message: 'The API key does not exist.' },
  SERVICE_NOT_FOUND: {
    code: 3002,
    http: 404,
    retryable: false,
    message: 'The service is not provisioned for this tenant.',
  },
  TENANT_EXISTS: {
    code: 3003,
    http: 409,
    retryable: false,
    message: 'A tenant with this id already exists.',
  },
  SERVICE_EXISTS: {
    code: 3004,
    http: 409,
    retryable: false,
    message: 'The service is already provisioned; use PUT to replace it.',
  },
  // 31xx: provisioned services and channels
  CHANNEL_NOT_FOUND: {
    code: 3100,
    http: 404,
    retryable: false,
    message: 'The channel section is not provisioned for this tenant.',
  },
  CHANNEL_ID_TAKEN: {
    code: 3101,
    http: 409,
    retryable: false,
    message:
      'This channelId (sender id or email domain) is already provisioned; a channelId routes to one place only.',
  },
  SERVICE_SECRET_UNREADABLE: {
    code: 3102,
    http: 500,
    retryable: false,
    message: "The service's stored secret does not decrypt (another secretsKey, or the row was altered).",
  },
  // 40xx: consumer and agent chat (sessions, messages, sockets)
  INVALID_CLIENT_TOKEN: {
    code: 4000,
    http: 401,
    retryable: false,
    message: 'The client token (x-nexus-client-key) is missing, expired or not valid.',
  },
  SESSION_MISMATCH: {
    code: 4001,
    http: 403,
    retryable: false,
    message: 'The client token belongs to another chat session.',
  },
  SESSION_NOT_FOUND: { code: 4002, http: 404, retryable: false, message: 'The chat session does not exist.' },
  SESSION_ENDED: {
    code: 4003,
    http: 409,
    retryable: false,
    message: 'The chat session has ended; start a new session.',
  },
  CONVERSATION_NOT_FOUND: {
    code: 4004,
    http: 404,
    retryable: false,
    message: 'The conversation does not exist.',
  },
  CONVERSATION_CLOSED: {
    code: 4005,
    http: 409,
    retryable: false,
    message: 'The conversation is done and takes no more messages.',
  },
  UNKNOWN_EVENT: {
    code: 4006,
    http: 400,
    retryable: false,
    message: 'This socket namespace does not handle that event.',
  },
  MESSAGE_RATE_LIMITED: {
    code: 4007,
    http: 429,
    retryable: true,
    message: 'Too many messages from this connection; slow down and retry.',
  },
  INVALID_AGENT_TOKEN: {
    code: 4008,
    http: 401,
    retryable: false,
    message: 'The agent token is missing, expired or not valid.',
  },
  NOT_CONVERSATION_AGENT: {
    code: 4009,
    http: 403,
    retryable: false,
    message: 'The agent is not a participant of this conversation.',
  },
  ROUTING_UNAVAILABLE: {
    code: 4010,
    http: 503,
    retryable: true,
    message: 'Agent routing is not available on this gateway yet.',
  },
  // 41xx: routing, agents, interactions
  ENDPOINT_NOT_FOUND: {
    code: 4100,
    http: 404,
    retryable: false,
    message: 'The chat endpoint is not provisioned for this tenant.',
  },
  AGENT_NOT_FOUND: {
    code: 4101,
    http: 404,
    retryable: false,
    message: 'The agent is not provisioned for this tenant.',
  },
  INTERACTION_NOT_FOUND: {
    code: 4102,
    http: 404,
    retryable: false,
    message: 'The interaction does not exist.',
  },
  INTERACTION_STATE: {
    code: 4103,
    http: 409,
    retryable: false,
    message: "The interaction's state does not allow this operation; read it again.",
  },
  INTERACTION_DONE: {
    code: 4104,
    http: 409,
    retryable: false,
    message: 'The interaction is done and can no longer change.',
  },
  NOT_ASSIGNED_AGENT: {
    code: 4105,
    http: 403,
    retryable: false,
    message: 'The conversation is not assigned to this agent.',
  },
  AGENT_AT_CAPACITY: {
    code: 4106,
    http: 409,
    retryable: true,
    message: 'The agent has no room for another conversation.',
  },
  AGENT_NOT_AVAILABLE: {
    code: 4107,
    http: 409,
    retryable: true,
    message: 'The agent is not ready or not connected.',
  },
  // 42xx: browser surfaces (/ux)
  UX_NOT_BUILT: {
    code: 4200,
    http: 503,
    retryable: false,
    message: 'The browser bundles are not built; run npm run build:web on the gateway.',
  },
  UX_DEMO_DISABLED: {
    code: 4201,
    http: 404,
    retryable: false,
    message: 'The demo is off on this gateway (nexus.ux.demo).',
  },
  UX_DEMO_PROVISIONING_FAILED: {
    code: 4202,
    http: 503,
    retryable: true,
    message: 'The demo tenant could not be provisioned; see the gateway log.',
  },
  // 50xx: SMS providers (inbound webhooks and receipts)
  SMS_CHANNEL_NOT_FOUND: {
    code: 5000,
    http: 404,
    retryable: false,
    message: 'No SMS channel (sender id) is provisioned with this channelId.',
  },
  SMS_PROVIDER_NOT_PROVISIONED: {
    code: 5001,
    http: 404,
    retryable: false,
    message: "The tenant has not provisioned this SMS provider's service.",
  },
  SMS_INBOUND_INVALID: {
    code: 5002,
    http: 400,
    retryable: false,
    message: 'The provider request lacks a field it must carry.',
  },
  SMS_CHANNEL_PROVIDER_MISMATCH: {
    code: 5003,
    http: 409,
    retryable: false,
    message: 'The SMS channel is provisioned for another provider.',
  },
  SMS_PROVIDER_UNAVAILABLE: {
    code: 5004,
    http: 503,
    retryable: true,
    message: 'The SMS provider integration failed to handle the request; retry.',
  },
  // 51xx: outbound campaigns (email and SMS), interaction webhooks, the outbox API
  OUTBOUND_MESSAGE_NOT_FOUND: {
    code: 5100,
    http: 404,
    retryable: false,
    message: 'The outbound message does not exist for this tenant.',
  },
  OUTBOUND_CHANNEL_NOT_FOUND: {
    code: 5101,
    http: 404,
    retryable: false,
    message: 'No channel of this tenant has that channelId or section; provision it first.',
  },
  OUTBOUND_PROVIDER_NOT_CONFIGURED: {
    code: 5102,
    http: 409,
    retryable: false,
    message: "The channel's provider service is not provisioned (or no plugin serves it).",
  },
  OUTBOUND_CLIENT_MESSAGE_ID_REUSED: {
    code: 5103,
    http: 409,
    retryable: false,
    message: 'This clientMessageId was already used for a different message.',
  },
  OUTBOX_ENTRY_NOT_FOUND: {
    code: 5110,
    http: 404,
    retryable: false,
    message: 'The outbox entry does not exist for this tenant.',
  },
  OUTBOX_ENTRY_DELIVERED: {
    code: 5111,
    http: 409,
    retryable: false,
    message: 'The outbox entry was delivered; only dead or pending entries can be re-driven.',
  },
  // 9xxx: the gateway
  // 60xx: the AI connector (bot replies, agent-assist suggestions, bot settings for athena)
  PAYLOAD_SIGNATURE_CHECK_FAILED: {
    code: 6000,
    http: 200,
    retryable: false,
    message: 'The X-Hub-Signature of the request does not verify; nothing was processed.',
  },
  BOT_NOT_IN_CONTROL: {
    code: 6001,
    http: 409,
    retryable: false,
    message: 'The conversation is not owned by a bot (an agent or a queue has it); bot messages are refused.',
  },
  NO_AGENT_OWNER: {
    code: 6002,
    http: 409,
    retryable: false,
    message: 'No agent owns the conversation; suggestions are for the agent who does.',
  },
  BOT_NOT_FOUND: {
    code: 6003,
    http: 404,
    retryable: false,
    message: 'No Bot-<name> service with this name is provisioned for the tenant.',
  },
  AI_CONNECTOR_NOT_REGISTERED: {
    code: 6004,
    http: 404,
    retryable: false,
    message:
      'The tenant has no WebhookTransportTarget-ai-connector service (and no default target is set up).',
  },
  CLUSTER_KEY_REQUIRED: {
    code: 6005,
    http: 403,
    retryable: false,
    message: 'Only a cluster API key (tenant *) may read this; name the tenant with x-ccid.',
  },
  INTERNAL: { code: 9000, http: 500, retryable: true, message: 'The gateway failed to handle the request.' },
  UNAVAILABLE: {
    code: 9001,
    http: 503,
    retryable: true,
    message: 'A backing store is unavailable; retry shortly.',
  },
  SHUTTING_DOWN: {
    code: 9002,
    http: 503,
    retryable: true,
    message: 'This node is shutting down; retry against another node.',
  },
  SUGGESTION_NOT_FOUND: {
    code: 6006,
    http: 404,
    retryable: false,
    message:
      'No suggestion with this id was offered to this agent (unknown, or of another conversation, agent or tenant); no feedback was recorded.',
  },
  CHAT_MEDIA_NOT_AUDIO: {
    code: 4011,
    http: 415,
    retryable: false,
    message:
      'A chat customer may upload audio only: send the raw bytes with Content-Type audio/webm, audio/ogg, audio/wav, audio/mpeg, audio/mp4, audio/flac or audio/amr.',
  },
  CHAT_MEDIA_EMPTY: {
    code: 4012,
    http: 400,
    retryable: false,
    message: 'The upload has no bytes; send the recording as the raw request body.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorName = keyof typeof ERRORS;

export interface ErrorDetail {
  /** The dotted path of the offending field, e.g. `data.channels.0.channelId`. */
  field?: string;
  [key: string]: unknown;
}

export class AppError extends Error {
  readonly errorName: ErrorName;
  readonly code: number;
  readonly http: number;
  readonly retryable: boolean;
  readonly details?: ErrorDetail;

  constructor(name: ErrorName, message?: string, details?: ErrorDetail, options?: { cause?: unknown }) {
    const spec: ErrorSpec = ERRORS[name];
    super(message ?? spec.message, options);
    this.name = 'AppError';
    this.errorName = name;
    this.code = spec.code;
    this.http = spec.http;
    this.retryable = spec.retryable;
    this.details = details;
  }

  /** The client-visible shape: never a stack, never a cause. */
  toJSON(): { code: number; name: ErrorName; message: string; retryable: boolean; details?: ErrorDetail } {
    return {
      code: this.code,
      name: this.errorName,
      message: this.message,
      retryable: this.retryable,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** Wraps anything thrown into an AppError, once, at the edge. */
export function toAppError(err: unknown): AppError {
  if (isAppError(err)) return err;
  return new AppError('INTERNAL', undefined, undefined, { cause: err });
}
