/** The table of the gateway's route modules, in one place. */
import type { RouteModule } from './deps.js';

export const ROUTE_MODULES: RouteModule[] = [];
