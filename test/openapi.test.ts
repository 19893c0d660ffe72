/** The OpenAPI document covers every route, is checked in, and is served. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayRoutes, openApiText } from '../scripts/openapi.js';
import { docFor } from '../src/gateway/openapi/spec.js';
import { api, startNexus, type TestNexus } from './helpers/nexus.js';

describe('OpenAPI document', () => {
  it('has a summary and credentials for every route of the gateway', () => {
    const undocumented = gatewayRoutes()
      .filter((r) => !docFor(r))
      .map((r) => `${r.method} ${r.pattern}`);
    expect(undocumented, 'add them to ROUTE_DOCS in src/gateway/openapi/spec.ts').toEqual([]);
  });

  it('is checked in as docs/openapi.json, equal to what the routes give', () => {
    const checkedIn = readFileSync(join(import.meta.dirname, '..', 'docs', 'openapi.json'), 'utf8');
    expect(checkedIn, 'run: npx tsx scripts/openapi.ts --write').toBe(openApiText());
  });

  describe('served by the gateway', () => {
    let t: TestNexus;
    beforeAll(async () => {
      t = await startNexus();
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    it('at /nexus/v3/openapi.json', async () => {
      const r = await api(t.url, 'GET', '/nexus/v3/openapi.json');
      expect(r.status).toBe(200);
      expect(r.body.openapi).toBe('3.0.3');
      expect(r.body.paths['/nexus/v3/provisioning/tenants'].post.security).toEqual([{ admin: [] }]);
      expect(r.body.paths['/nexus/v3/chat/sessions/{sessionId}/messages'].get.parameters[0].name).toBe(
        'sessionId',
      );
    });
  });
});
