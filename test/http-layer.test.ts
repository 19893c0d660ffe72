/**
 * The HTTP layer as the composed gateway serves it, on both engines: bad bodies are refused with
 * their catalog codes before anything is stored, answers carry the envelope, unknown paths and
 * methods are 404 and 405, CORS and trace ids work on the real routes. (The layer's own edge cases,
 * aborts and chunked bodies are in src/shared/http/server.test.ts.)
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from './helpers/engines.js';
import { api, startNexus, type TestNexus } from './helpers/nexus.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TENANTS = '/nexus/v3/provisioning/tenants';

describe.each(engines())('HTTP layer of the gateway on %s engines', (engine) => {
  let t: TestNexus;
  let admin: Record<string, string>;
  const ccid = () => `http${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    t = await startNexus({ engine, nexus: { bodyLimit: 2048, corsOrigins: 'https://widget.example.com' } });
    admin = { authorization: `Bearer ${t.adminToken}` };
  });

  afterAll(async () => {
    await t?.cleanup();
  });

  const exists = async (id: string) =>
    (await api(t.url, 'GET', `${TENANTS}/${id}`, { headers: admin })).status;

  it('creates from JSON and from a form, in the envelope', async () => {
    const a = ccid();
    const r = await api(t.url, 'POST', TENANTS, { headers: admin, json: { id: a, name: 'Tenant A' } });
    expect(r.status).toBeLessThan(300);
    expect(r.body.status).toEqual({ code: 0 });
    expect(r.body.operationId).toMatch(UUID);
    expect(r.body.data).toHaveProperty('xapikey');

    const b = ccid();
    const f = await api(t.url, 'POST', TENANTS, { headers: admin, form: `id=${b}&name=Tenant+B` });
    expect(f.status).toBeLessThan(300);
    expect(await exists(b)).toBe(200);
  });

  it('malformed JSON is 400 code 1001 and stores nothing', async () => {
    const id = ccid();
    const r = await api(t.url, 'POST', TENANTS, {
      headers: { ...admin, 'content-type': 'application/json' },
      body: `{"id":"${id}","name":`,
    });
    expect(r.status).toBe(400);
    expect(r.body.status.code).toBe(1001);
    expect(r.body.operationId).toMatch(UUID);
    expect(await exists(id)).toBe(404);
  });

  it('a wrong content type is 415 code 1002 and stores nothing', async () => {
    const id = ccid();
    const r = await api(t.url, 'POST', TENANTS, {
      headers: { ...admin, 'content-type': 'text/plain' },
      body: JSON.stringify({ id, name: 'x' }),
    });
    expect(r.status).toBe(415);
    expect(r.body.status.code).toBe(1002);
    expect(await exists(id)).toBe(404);
  });

  it('an oversized body is 413 code 1003, announced or chunked, and stores nothing', async () => {
    const id = ccid();
    const big = JSON.stringify({ id, name: 'x'.repeat(3000) });
    const r = await api(t.url, 'POST', TENANTS, { headers: admin, json: JSON.parse(big) });
    expect(r.status).toBe(413);
    expect(r.body.status.code).toBe(1003);

    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      let answered = false;
      const req = httpRequest(
        `${t.url}${TENANTS}`,
        { method: 'POST', headers: { ...admin, 'content-type': 'application/json' } },
        (res) => {
          answered = true;
          let body = '';
          res.on('data', (c) => {
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', (err) => {
        if (!answered) reject(err);
      });
      void (async () => {
        for (let i = 0; i < big.length && !answered; i += 512) {
          req.write(big.slice(i, i + 512));
          await new Promise((r) => setImmediate(r));
        }
        if (!answered) req.end();
      })();
    });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).status.code).toBe(1003);
    expect(await exists(id)).toBe(404);
  });

  it('404 for an unknown path and 405 with Allow for a wrong method, in the envelope', async () => {
    const nf = await api(t.url, 'GET', '/nexus/v3/no-such-thing');
    expect(nf.status).toBe(404);
    expect(nf.body.status.code).toBe(1005);
    expect(nf.body.operationId).toMatch(UUID);
    const na = await api(t.url, 'PATCH', `${TENANTS}/${ccid()}`, { headers: admin });
    expect(na.status).toBe(405);
    expect(na.body.status.code).toBe(1006);
    expect(na.headers.get('allow')).toMatch(/GET/);
    expect(na.headers.get('allow')).toMatch(/PUT/);
    expect(na.headers.get('allow')).toMatch(/DELETE/);
  });

  it('answers the CORS preflight of an allowed origin, and names it on answers', async () => {
    const pre = await fetch(`${t.url}${TENANTS}`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://widget.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, authorization',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://widget.example.com');
    expect(pre.headers.get('access-control-allow-headers')).toBe('content-type, authorization');
    const r = await api(t.url, 'GET', '/health/live', { headers: { origin: 'https://widget.example.com' } });
    expect(r.headers.get('access-control-allow-origin')).toBe('https://widget.example.com');
    const other = await api(t.url, 'GET', '/health/live', {
      headers: { origin: 'https://elsewhere.example' },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('echoes a valid X-B3-TraceId and makes one up otherwise', async () => {
    const trace = '80f198ee56343ba864fe8b2a57d3eff7';
    const r = await api(t.url, 'GET', '/nexus/v3/no-such-thing', { headers: { 'x-b3-traceid': trace } });
    expect(r.headers.get('x-b3-traceid')).toBe(trace);
    const g = await api(t.url, 'GET', '/health/live', { headers: { 'x-b3-traceid': 'zz' } });
    expect(g.headers.get('x-b3-traceid')).toMatch(/^[0-9a-f]{16}$/);
  });
});
