import { buildInfo } from '../../shared/build-info.js';
import type { RouteModule } from '../deps.js';
import { buildOpenApi } from './spec.js';

/** Serves the OpenAPI document of every route this gateway has. */
export const openApiRoutes: RouteModule = (router) => {
  router.get('/nexus/v3/openapi.json', () => ({
    raw: JSON.stringify(buildOpenApi(router.list(), buildInfo().version), null, 2),
    contentType: 'application/json',
  }));
};
