/** The table of the gateway's route modules, in one place. */
import { channelRoutes } from './channels/routes.js';
import type { RouteModule } from './deps.js';
import { serviceRoutes } from './services/routes.js';

export const ROUTE_MODULES: RouteModule[] = [serviceRoutes, channelRoutes];
