/** The table of the gateway's route modules, in one place. */
import { apiKeyRoutes } from './apikeys/routes.js';
import { channelRoutes } from './channels/routes.js';
import { botRoutes } from './interactions/bot-routes.js';
import { chatMediaRoutes } from './chat/media.js';
import { chatRoutes } from './chat/routes.js';
import type { RouteModule } from './deps.js';
import { outboundRoutes } from '../plugins/outbound/routes.js';
import { outboxRoutes } from '../plugins/outbox/routes.js';
import { interactionWebhookRoutes } from '../plugins/webhooks/interactions.js';
import { pluginWebhookRoutes } from '../plugins/webhooks/third-party.js';
import { openApiRoutes } from './openapi/routes.js';
import { routingRoutes } from './routing/module.js';
import { serviceRoutes } from './services/routes.js';
import { smsRoutes } from '../plugins/sms/routes.js';
import { tenantRoutes } from './tenants/routes.js';
import { uxRoutes } from './ux/routes.js';

export const ROUTE_MODULES: RouteModule[] = [
  tenantRoutes,
  apiKeyRoutes,
  serviceRoutes,
  channelRoutes,
  chatRoutes,
  chatMediaRoutes,
  routingRoutes,
  botRoutes,
  uxRoutes,
  smsRoutes,
  openApiRoutes,
  outboundRoutes,
  outboxRoutes,
  interactionWebhookRoutes,
  pluginWebhookRoutes,
];
