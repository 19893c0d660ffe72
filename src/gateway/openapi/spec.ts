/**
 * The OpenAPI 3 document of the REST API, built from the live route table so that it cannot
 * forget a route, with a one-line summary and the credential of each. `docs/openapi.json` is the
 * checked-in copy (`npx tsx scripts/openapi.ts --write`); a test keeps it equal.
 */
import type { Route } from '../../shared/http/router.js';

type Security = 'admin' | 'apiKey' | 'clientKey' | 'agent' | 'providerSignature' | 'none';

interface Doc {
  summary: string;
  security: Security[];
  tag: string;
  /** The request body's media types, where it is not JSON or form (a raw upload). */
  body?: Record<string, { schema: Record<string, unknown> }>;
}

const ADMIN_OR_KEY: Security[] = ['admin', 'apiKey'];

/** `METHOD pattern` → summary, credentials and tag. Every route must have an entry (a test checks). */
export const ROUTE_DOCS: Record<string, Doc> = {
  'GET /health/detail': {
    summary: 'Health in the deployment guide shape; state green or red with reasons',
    security: ['none'],
    tag: 'health',
  },
  'GET /health/live': { summary: 'Liveness probe', security: ['none'], tag: 'health' },
  'GET /health/ready': {
    summary: 'Readiness probe: 200 only when the node should get traffic',
    security: ['none'],
    tag: 'health',
  },
  'GET /nexus/v3/openapi.json': { summary: 'This document', security: ['none'], tag: 'meta' },

  'POST /nexus/v3/provisioning/tenants': {
    summary: 'Provision a tenant; answers data.xapikey',
    security: ['admin'],
    tag: 'provisioning',
  },
  'GET /nexus/v3/provisioning/tenants': { summary: 'List tenants', security: ['admin'], tag: 'provisioning' },
  'GET /nexus/v3/provisioning/tenants/:ccid': {
    summary: 'Read a tenant',
    security: ADMIN_OR_KEY,
    tag: 'provisioning',
  },
  'PUT /nexus/v3/provisioning/tenants/:ccid': {
    summary: 'Replace a tenant',
    security: ADMIN_OR_KEY,
    tag: 'provisioning',
  },
  'DELETE /nexus/v3/provisioning/tenants/:ccid': {
    summary: 'Delete a tenant and revoke its keys',
    security: ADMIN_OR_KEY,
    tag: 'provisioning',
  },

  'POST /nexus/v3/apikeys': {
    summary: 'Create an API key (the key is shown once, as id)',
    security: ['admin'],
    tag: 'apikeys',
  },
  'GET /nexus/v3/apikeys': {
    summary: 'List API keys (never their values)',
    security: ['admin'],
    tag: 'apikeys',
  },
  'GET /nexus/v3/apikeys/:keyId': { summary: 'Read an API key record', security: ['admin'], tag: 'apikeys' },
  'DELETE /nexus/v3/apikeys/:keyId': { summary: 'Revoke an API key', security: ['admin'], tag: 'apikeys' },

  'GET /nexus/v3/provisioning/services/:ccid': {
    summary: "List a tenant's services (never their secrets)",
    security: ADMIN_OR_KEY,
    tag: 'provisioning',
  },
  'GET /nexus/v3/provisioning/services/:ccid/:serviceName': {
    summary: 'Read a service',
    security: ADMIN_OR_KEY,
    tag: 'provisioning',
  },
  'POST /nexus/v3/provisioning/services/:ccid/:serviceName': {
    summary: 'Create a service { url, data, secret }',
    security: ADMIN_OR_KEY,
    tag: 'provisioning',
  },
  'PUT /nexus/v3/provisioning/services/:ccid/:serviceName': {
    summary: 'Create or replace a service',
    security: ADMIN_OR_KEY,
    tag: 'provisioning',
  },
  'DELETE /nexus/v3/provisioning/services/:ccid/:serviceName': {
    summary: 'Delete a service',
    security: ADMIN_OR_KEY,
    tag: 'provisioning',
  },

  'GET /nexus/v3/provisioning/channels/:ccid': {
    summary: "List a tenant's channels (sender ids, email domains)",
    security: ADMIN_OR_KEY,
    tag: 'provisioning',
  },
  'GET /nexus/v3/provisioning/channels/:ccid/:section': {
    summary: 'Read a channel section (chat.* or cxc.*)',
    security: ADMIN_OR_KEY,
    tag: 'provisioning',
  },
  'PUT /nexus/v3/provisioning/channels/:ccid/:section': {
    summary: 'Create or replace a channel section',
    security: ADMIN_OR_KEY,
    tag: 'provisioning',
  },
  'DELETE /nexus/v3/provisioning/channels/:ccid/:section': {
    summary: 'Delete a channel section',
    security: ADMIN_OR_KEY,
    tag: 'provisioning',
  },

  'GET /nexus/v3/provisioning/endpoints/:ccid': {
    summary: 'List chat endpoints',
    security: ADMIN_OR_KEY,
    tag: 'routing',
  },
  'GET /nexus/v3/provisioning/endpoints/:ccid/:endpoint': {
    summary: 'Read a chat endpoint',
    security: ADMIN_OR_KEY,
    tag: 'routing',
  },
  'PUT /nexus/v3/provisioning/endpoints/:ccid/:endpoint': {
    summary: 'Create or replace a chat endpoint { queue, bot?, asyncHold? }',
    security: ADMIN_OR_KEY,
    tag: 'routing',
  },
  'DELETE /nexus/v3/provisioning/endpoints/:ccid/:endpoint': {
    summary: 'Delete a chat endpoint',
    security: ADMIN_OR_KEY,
    tag: 'routing',
  },
  'GET /nexus/v3/provisioning/agents/:ccid': {
    summary: 'List agents',
    security: ADMIN_OR_KEY,
    tag: 'routing',
  },
  'GET /nexus/v3/provisioning/agents/:ccid/:agentId': {
    summary: 'Read an agent',
    security: ADMIN_OR_KEY,
    tag: 'routing',
  },
  'PUT /nexus/v3/provisioning/agents/:ccid/:agentId': {
    summary: 'Create or replace an agent { name, queues, capacity }',
    security: ADMIN_OR_KEY,
    tag: 'routing',
  },
  'DELETE /nexus/v3/provisioning/agents/:ccid/:agentId': {
    summary: 'Delete an agent',
    security: ADMIN_OR_KEY,
    tag: 'routing',
  },
  'POST /nexus/v3/provisioning/agents/:ccid/:agentId/tokens': {
    summary: 'Issue an agent token (socket auth { token })',
    security: ADMIN_OR_KEY,
    tag: 'routing',
  },

  'POST /nexus/v3/chat/sessions': {
    summary: 'Start a chat session (Chat v3): selfUri and clientToken',
    security: ['apiKey'],
    tag: 'chat',
  },
  'GET /nexus/v3/chat/sessions/:sessionId': {
    summary: 'Read the session and its conversation',
    security: ['clientKey'],
    tag: 'chat',
  },
  'GET /nexus/v3/chat/sessions/:sessionId/messages': {
    summary: 'Messages after ?from=<seq>, in order (never internal notes)',
    security: ['clientKey'],
    tag: 'chat',
  },
  'POST /nexus/v3/chat/sessions/:sessionId/messages': {
    summary: 'Send a message, typing or end (data[type], data[text], data[clientMessageId])',
    security: ['clientKey'],
    tag: 'chat',
  },
  'POST /nexus/v3/chat/sessions/:sessionId/media': {
    summary:
      'Upload a voice message (raw audio body, Content-Type audio/*, at most chat.maxMediaBytes): mediaId and url for a File message',
    security: ['clientKey'],
    tag: 'chat',
    body: {
      'audio/*': { schema: { type: 'string', format: 'binary' } },
    },
  },
  'POST /nexus/v3/chat/sessions/:sessionId/end': {
    summary: 'End the session (the conversation goes on async hold)',
    security: ['clientKey'],
    tag: 'chat',
  },
  'DELETE /nexus/v3/chat/sessions/:sessionId': {
    summary: 'End the session',
    security: ['clientKey'],
    tag: 'chat',
  },

  'GET /nexus/v3/interactions': {
    summary: 'List interactions by ?state=',
    security: ['apiKey'],
    tag: 'interactions',
  },
  'GET /nexus/v3/interactions/:id': {
    summary: 'Read an interaction with its contact history',
    security: ['apiKey'],
    tag: 'interactions',
  },
  'GET /nexus/v3/interactions/:id/messages': {
    summary: 'Transcript (agent audience: includes internal notes)',
    security: ['apiKey'],
    tag: 'interactions',
  },
  'POST /nexus/v3/interactions/:id/route': {
    summary: 'Place the interaction in a queue, with an agent (external router) or back with a bot',
    security: ['apiKey'],
    tag: 'interactions',
  },
  'POST /nexus/v3/interactions/:id/done': {
    summary: 'Mark the interaction done',
    security: ['apiKey'],
    tag: 'interactions',
  },
  'POST /nexus/v3/interactions/:id/messages': {
    summary:
      'A bot reply as the Bot participant, or a handoff notice (AI connector; only while a bot owns it)',
    security: ['apiKey'],
    tag: 'interactions',
  },
  'POST /nexus/v3/interactions/:id/suggestions': {
    summary: 'Agent-assist suggestions, to the agent console only (suggestion socket event)',
    security: ['apiKey'],
    tag: 'interactions',
  },
  'GET /nexus/v3/ai/bots/:name': {
    summary: 'A bot (Bot-<name>) for the AI connector; the secret only for cluster or nexus:ai:* keys',
    security: ['apiKey'],
    tag: 'interactions',
  },
  'GET /nexus/v3/ai/connector': {
    summary: 'Where the AI connector target points and its signing key (cluster keys only)',
    security: ['apiKey'],
    tag: 'interactions',
  },

  'POST /nexus/v3/channels/:channelId/messages': {
    summary: 'Third-party messaging (Async): inbound messages, X-Hub-Signature and x-ccid',
    security: ['providerSignature'],
    tag: 'providers',
  },
  'POST /nexus/v3/channels/:channelId/media': {
    summary: 'Third-party messaging (Async): inbound media',
    security: ['providerSignature'],
    tag: 'providers',
  },
  'POST /nexus/v3/channels/:channelId/receipts': {
    summary: 'Third-party messaging (Async): delivery receipts',
    security: ['providerSignature'],
    tag: 'providers',
  },
  'POST /nexus/v3/sms/message': {
    summary: 'SMS aggregation (Portico): inbound SMS, HTTP Basic ccid / API key',
    security: ['providerSignature'],
    tag: 'providers',
  },
  'POST /nexus/v3/sms/receipt': {
    summary: 'SMS aggregation (Portico): delivery receipts',
    security: ['providerSignature'],
    tag: 'providers',
  },
  'POST /nexus/v3/sms/kaleyra/:ccid': {
    summary: 'Kaleyra / mGage: inbound SMS and delivery callbacks',
    security: ['providerSignature'],
    tag: 'providers',
  },
  'POST /nexus/v3/sms/twilio/:ccid': {
    summary: 'Twilio: inbound SMS and status callbacks, X-Twilio-Signature',
    security: ['providerSignature'],
    tag: 'providers',
  },
  'GET /nexus/v3/sms/:ccid/media/:mediaId': {
    summary: "A file a third-party messaging gateway uploaded, for the tenant's agents",
    security: ['agent', 'apiKey'],
    tag: 'providers',
  },
  'GET /nexus/v3/sms/:ccid/conversations/:conversationId/deliveries': {
    summary: 'Delivery state of each SMS sent in a conversation',
    security: ['apiKey'],
    tag: 'providers',
  },

  'POST /nexus/v3/outbound/:ccid/messages': {
    summary: 'Campaigns: send an SMS or email through a channel; answers data.messageId (queued)',
    security: ADMIN_OR_KEY,
    tag: 'outbound',
  },
  'GET /nexus/v3/outbound/:ccid/messages/:messageId': {
    summary: 'Campaigns: the delivery state of an outbound message',
    security: ADMIN_OR_KEY,
    tag: 'outbound',
  },
  'GET /nexus/v3/outbox/:ccid': {
    summary: 'Deliveries of the outbox by state (pending, done, dead), credentials redacted',
    security: ADMIN_OR_KEY,
    tag: 'outbound',
  },
  'POST /nexus/v3/outbox/:ccid/:id/redrive': {
    summary: 'Re-drive a dead (or stuck) delivery with fresh attempts',
    security: ADMIN_OR_KEY,
    tag: 'outbound',
  },
  'POST /nexus/v3/email/sparkpost/:ccid': {
    summary: 'SparkPost event webhook (HTTP Basic: ccid and an API key): campaign email delivery states',
    security: ['providerSignature'],
    tag: 'outbound',
  },

  'GET /ux/widget.js': { summary: 'The chat widget script to embed', security: ['none'], tag: 'ux' },
  'GET /ux/assets/:file': {
    summary: 'Static assets of the widget and the agent console',
    security: ['none'],
    tag: 'ux',
  },
  'GET /ux/comm': {
    summary: 'Agent console: conversations, queues, async hold (iframe)',
    security: ['none'],
    tag: 'ux',
  },
  'GET /ux/conv': { summary: 'Agent console: one conversation (iframe)', security: ['none'], tag: 'ux' },
  'GET /ux/demo': {
    summary: 'Demo page: the widget and the console side by side',
    security: ['none'],
    tag: 'ux',
  },
  'GET /ux/demo/site': {
    summary: 'Demo page: a sample site embedding the widget',
    security: ['none'],
    tag: 'ux',
  },
  'POST /ux/demo/session': {
    summary: 'Demo: provision a demo tenant, endpoint and agent (when enabled)',
    security: ['none'],
    tag: 'ux',
  },
};

const SCHEMES: Record<Exclude<Security, 'none'>, unknown> = {
  admin: {
    type: 'http',
    scheme: 'bearer',
    description:
      'The admin token, an OIDC JWT of the configured issuer, or a token the configured OAuth2 server confirms. The Bearer prefix is optional.',
  },
  apiKey: {
    type: 'apiKey',
    in: 'header',
    name: 'x-api-key',
    description: 'An API key; cluster keys name the tenant with x-ccid.',
  },
  clientKey: {
    type: 'apiKey',
    in: 'header',
    name: 'x-nexus-client-key',
    description: 'The clientToken of a chat session.',
  },
  agent: { type: 'http', scheme: 'bearer', description: 'An agent token.' },
  providerSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Hub-Signature',
    description: "The provider's own signature or credentials.",
  },
};

const envelope = (data: unknown) => ({
  type: 'object',
  properties: {
    status: { type: 'object', properties: { code: { type: 'integer', example: 0 } } },
    data,
    operationId: { type: 'string', format: 'uuid' },
  },
});

export function docFor(route: Pick<Route, 'method' | 'pattern'>): Doc | undefined {
  return ROUTE_DOCS[`${route.method} ${route.pattern}`];
}

export function buildOpenApi(
  routes: ReadonlyArray<Pick<Route, 'method' | 'pattern'>>,
  version: string,
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.pattern.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const doc = docFor(r) ?? {
      summary: `${r.method} ${r.pattern}`,
      security: ['none'] as Security[],
      tag: 'other',
    };
    const params = [...r.pattern.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const op: Record<string, unknown> = {
      operationId: `${r.method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_, c) => (c ? c.toUpperCase() : ''))}`,
      summary: doc.summary,
      tags: [doc.tag],
      ...(params.length ? { parameters: params } : {}),
      security: doc.security.includes('none') ? [] : doc.security.map((s) => ({ [s]: [] })),
      responses: r.pattern.startsWith('/nexus/v3')
        ? {
            '200': {
              description: 'OK',
              content: { 'application/json': { schema: envelope({ type: 'object' }) } },
            },
            default: {
              description: 'An error of docs/errors.md',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
            },
          }
        : { '200': { description: 'OK' } },
    };
    if (doc.body) {
      op.requestBody = { required: true, content: doc.body };
    } else if (['POST', 'PUT'].includes(r.method) && r.pattern.startsWith('/nexus/v3')) {
      op.requestBody = {
        required: false,
        content: {
          'application/json': { schema: { type: 'object' } },
          'application/x-www-form-urlencoded': {
            schema: { type: 'object', description: 'Bracketed keys: data[field]=value' },
          },
        },
      };
    }
    paths[path] ??= {};
    paths[path][r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'nexus digital-channels gateway',
      version,
      description:
        'REST API of the gateway. Realtime chat is socket.io at /chat/v3/socket.io (namespaces /consumer and /agent); see README.',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: SCHEMES,
      schemas: {
        Error: {
          type: 'object',
          properties: {
            status: {
              type: 'object',
              properties: {
                code: { type: 'integer' },
                name: { type: 'string' },
                message: { type: 'string' },
                details: { type: 'object' },
              },
            },
            operationId: { type: 'string', format: 'uuid' },
          },
        },
      },
    },
  };
}
