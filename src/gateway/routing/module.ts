/**
 * The routing module: endpoint and agent provisioning, the embedded router plugged into chat's
 * hooks, agent actions, customer presence (async hold) and the interactions API.
 */
import type { Namespace, Socket } from 'socket.io';
import type { Component } from '../../shared/lifecycle.js';
import { agentRoutes } from '../agents/routes.js';
import { AgentStore } from '../agents/store.js';
import type { ChatService } from '../chat/service.js';
import { ContactStore } from '../contacts/store.js';
import type { GatewayDeps, RouteModule } from '../deps.js';
import { endpointRoutes } from '../endpoints/routes.js';
import { EndpointStore } from '../endpoints/store.js';
import { interactionRoutes } from '../interactions/routes.js';
import { createAgentActions } from './actions.js';
import { chatPort } from './chat-port.js';
import { CustomerPresence } from './presence.js';
import { Routing } from './router.js';

/** Builds routing for one gateway and registers its lifecycle (sweep, customer presence). */
export const routingRoutes: RouteModule = (router, deps) => {
  const { components } = createRouting(router, deps);
  for (const c of components) deps.components.add(c);
};

export function createRouting(
  router: Parameters<RouteModule>[0],
  deps: GatewayDeps,
): { routing: Routing; components: Component[] } {
  const opts = deps.config.routing;
  const log = deps.log.child({ component: 'routing' });
  const agents = new AgentStore(deps.db);
  const endpoints = new EndpointStore(deps.db);
  const contacts = new ContactStore(deps.db);
  const chat: ChatService = deps.chat;
  const consumer = (chat.notifier as { consumer?: Namespace }).consumer;
  const presence: CustomerPresence = new CustomerPresence({
    consumer,
    graceMs: opts.customerGraceMs,
    conversationOf: (s: Socket) => {
      const claims = (s.data as { claims?: { ccid: string; conversationId: string } } | undefined)?.claims;
      return claims ? { ccid: claims.ccid, conversationId: claims.conversationId } : undefined;
    },
    left: (ccid, conversationId) => routing.customerLeft(ccid, conversationId),
    log,
  });
  // The REST routes note their customers through it.
  chat.setCustomerSeen((id) => presence.seen(id));
  const routing: Routing = new Routing({
    db: deps.db,
    agents,
    endpoints,
    contacts,
    log,
    registry: deps.registry,
    sweepMs: opts.sweepMs,
    presenceTtlMs: opts.presenceTtlMs,
    customerGraceMs: opts.customerGraceMs,
    customersHere: () => presence.take(),
  });
  const port = chatPort(chat, deps.db, log);
  routing.attach(port);
  chat.setConversationRouter(routing);
  chat.setAgentActions(createAgentActions({ db: deps.db, agents, routing, chat: () => port }));
  chat.onConversationEvent((event) => {
    if (event.type === 'session.ended') return routing.customerLeft(event.ccid, event.conversationId);
    if (event.type === 'message.created' && event.message.from.type === 'Customer') {
      return routing.customerReturned(event.ccid, event.conversationId, event.conversationState);
    }
  });

  endpointRoutes(router, deps);
  agentRoutes(router, deps, {
    agents,
    routing,
    signToken: async ({ ccid, agentId }, ttl) => {
      const agent = await agents.get(ccid, agentId);
      return chat.tokens.signAgentToken({ ccid, agentId, ...(agent ? { name: agent.name } : {}) }, ttl);
    },
  });
  interactionRoutes(router, deps, { routing, contacts, chat: () => port });

  const components: Component[] = [
    {
      name: 'routing',
      start: () => {
        routing.start();
        presence.start();
      },
      close: async () => {
        presence.close();
        await routing.close();
      },
    },
  ];
  return { routing, components };
}
