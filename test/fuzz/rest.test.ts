/**
 * Bad input at volume on every REST route of the route table (`nexus.router.list()`): random and
 * malformed path parameters, query strings, bodies (JSON of any shape, broken JSON, form fields,
 * wrong content types, oversized) and credentials (none, garbage, the tenant's key, another
 * tenant's key, the admin token, a client token, an agent token). Properties: no answer is a 5xx;
 * a refused request (4xx) changes no row of any table; a /nexus answer carries a catalog code; the
 * process serves on.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSession, type TestSession } from '../chat/helpers.js';
import { agentToken, putAgent, putEndpoint } from '../chat/routing-helpers.js';
import { engines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { changed, type Snapshot, snapshot } from './state.js';

const RUNS_PER_ROUTE = 10;

type Body =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; value: string; contentType: string }
  | { kind: 'form'; pairs: Array<[string, string]>; bracketed: boolean }
  | { kind: 'huge' };

const weirdSegment = fc.constantFrom(
  '..',
  '.',
  '%',
  '%00',
  '%2F',
  ' ',
  '\u0000',
  'null',
  'undefined',
  '-1',
  '0',
  '1e309',
  '{}',
  '[]',
  "' OR 1=1 --",
  '<script>',
  'x'.repeat(1000),
  '\u{1F600}',
  '\uFFFF',
);

describe.each(engines())('every REST route under random and malformed input on %s engines', (engine) => {
  let t: TestNexus;
  let tenant: TestTenant;
  let other: TestTenant;
  let session: TestSession;
  let agentBearer: string;

  beforeAll(async () => {
    t = await startNexus({ engine, nexus: { rateLimit: { capacity: 1_000_000 } } });
    tenant = await createTenant(t);
    other = await createTenant(t);
    await putEndpoint(t, tenant, 'web', { queue: 'support' });
    await putAgent(t, tenant, 'agent-1', { name: 'Agent', queues: ['support'], capacity: 2 });
    agentBearer = await agentToken(t, tenant, 'agent-1');
    session = await newSession(t, tenant);
  });

  afterAll(async () => {
    await t?.cleanup();
  });

  it('never answers 5xx, and a refused request changes nothing', async () => {
    const realValues = [
      tenant.ccid,
      other.ccid,
      session.sessionId,
      session.conversationId,
      'agent-1',
      'web',
      'WebhookTransportTarget-ai-connector',
      'Bot-helper',
      'SMS',
      'chat.web',
    ];
    const segment = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...realValues) },
      { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
      { weight: 1, arbitrary: fc.uuid() },
      { weight: 2, arbitrary: weirdSegment },
    );
    const credential = fc.constantFrom('none', 'garbage', 'tenant', 'other', 'admin', 'client', 'agent');
    const body: fc.Arbitrary<Body> = fc.oneof(
      fc.constant<Body>({ kind: 'none' }),
      fc.jsonValue({ maxDepth: 4 }).map<Body>((value) => ({ kind: 'json', value })),
      fc
        .dictionary(
          fc.constantFrom('data', 'id', 'name', 'url', 'secret', 'queue', 'text', 'permissions'),
          fc.jsonValue({ maxDepth: 3 }),
        )
        .map<Body>((value) => ({ kind: 'json', value })),
      fc
        .record({
          value: fc.string({ maxLength: 300 }),
          contentType: fc.constantFrom(
            'application/json',
            'application/x-www-form-urlencoded',
            'text/plain',
            'application/octet-stream',
            'multipart/form-data; boundary=x',
            'application/json; charset=utf-16',
          ),
        })
        .map<Body>((r) => ({ kind: 'text', ...r })),
      fc
        .record({
          pairs: fc.array(fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 60 })), {
            maxLength: 8,
          }),
          bracketed: fc.boolean(),
        })
        .map<Body>((r) => ({ kind: 'form', ...r })),
      fc.constant<Body>({ kind: 'huge' }),
    );
    const query = fc.array(
      fc.tuple(
        fc.constantFrom('from', 'limit', 'state', 'ccid', 'iid', 'customername', 'x'),
        fc.string({ maxLength: 30 }),
      ),
      { maxLength: 3 },
    );

    const headersFor = (cred: string): Record<string, string> => {
      switch (cred) {
        case 'garbage':
          return { 'x-api-key': 'not-a-key', authorization: 'Bearer nonsense', 'x-nexus-client-key': 'junk' };
        case 'tenant':
          return { 'x-api-key': tenant.apiKey };
        case 'other':
          return { 'x-api-key': other.apiKey, 'x-ccid': tenant.ccid };
        case 'admin':
          return { authorization: `Bearer ${t.adminToken}` };
        case 'client':
          return { 'x-nexus-client-key': session.clientToken };
        case 'agent':
          return { authorization: `Bearer ${agentBearer}` };
        default:
          return {};
      }
    };
    const encode = (b: Body): { body?: string; contentType?: string } => {
      switch (b.kind) {
        case 'json':
          return { body: JSON.stringify(b.value) ?? 'null', contentType: 'application/json' };
        case 'text':
          return { body: b.value, contentType: b.contentType };
        case 'form':
          return {
            body: b.pairs
              .map(
                ([k, v]) => `${encodeURIComponent(b.bracketed ? `data[${k}]` : k)}=${encodeURIComponent(v)}`,
              )
              .join('&'),
            contentType: 'application/x-www-form-urlencoded',
          };
        case 'huge':
          return {
            body: `{"data":"${'x'.repeat(t.config.bodyLimit + 10)}"}`,
            contentType: 'application/json',
          };
        default:
          return {};
      }
    };

    let state: Snapshot = await snapshot(t.nexus.db);
    let requests = 0;
    const statuses = new Map<number, number>();
    for (const route of t.nexus.router.list()) {
      const params = route.segments.filter((s) => s.startsWith(':'));
      await fc.assert(
        fc.asyncProperty(
          fc.array(segment, { minLength: params.length, maxLength: params.length }),
          credential,
          body,
          query,
          fc.oneof(
            { weight: 7, arbitrary: fc.constant(undefined) },
            { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH') },
          ),
          async (values, cred, b, q, otherMethod) => {
            let i = 0;
            const path = route.segments
              .map((s) => (s.startsWith(':') ? encodeURIComponent(values[i++]) : s))
              .join('/');
            const search = q.length ? `?${q.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}` : '';
            const method = otherMethod ?? route.method;
            const { body: text, contentType } = method === 'GET' || method === 'DELETE' ? {} : encode(b);
            const headers = { ...headersFor(cred), ...(contentType ? { 'content-type': contentType } : {}) };
            const url = `${t.url}/${path.replace(/^\//, '')}${search}`;
            const res = await fetch(url, { method, headers, body: text });
            const raw = await res.text();
            requests++;
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            const what = `${method} ${route.pattern} → ${url.slice(0, 300)} [${cred}, ${b.kind}] = ${res.status} ${raw.slice(0, 300)}`;
            expect(res.status, what).toBeLessThan(500);
            const after = await snapshot(t.nexus.db);
            if (res.status >= 400) {
              expect(changed(state, after), what).toEqual([]);
              if (route.pattern.startsWith('/nexus/') && res.headers.get('content-type')?.includes('json')) {
                const code = JSON.parse(raw)?.status?.code;
                expect(typeof code === 'number' && code > 0, what).toBe(true);
              }
            }
            state = after;
          },
        ),
        { numRuns: RUNS_PER_ROUTE, endOnFailure: true },
      );
    }
    expect(requests).toBe(t.nexus.router.list().length * RUNS_PER_ROUTE);
    // Refusals dominate, but the fuzz also reached handlers that accepted something.
    expect([...statuses.keys()].some((s) => s < 300)).toBe(true);
    const live = await fetch(`${t.url}/health/live`);
    expect(live.status).toBe(200);
  }, 300_000);
});
