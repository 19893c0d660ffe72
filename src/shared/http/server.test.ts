/**
 * The HTTP layer through a real uWebSockets.js server on port 0, with real clients (fetch and
 * node:http for chunked bodies and aborts) and a logger whose lines the tests read.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import { createLogger } from '../logger.js';
import { Router } from './router.js';
import { HttpServer } from './server.js';
import type { HttpContext } from './types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LIMIT = 4096;

let server: HttpServer;
let base: string;
let port: number;
const lines: Array<Record<string, unknown>> = [];
const calls: Record<string, number> = {};
const registry = new Registry();
/** Slow handlers wait for their gate; a test opens it. */
interface Gate {
  open: () => void;
  opened: Promise<void>;
  reach: () => void;
  reached: Promise<void>;
  finish: () => void;
  finished: Promise<void>;
}
const gates = new Map<string, Gate>();

function count(name: string) {
  calls[name] = (calls[name] ?? 0) + 1;
}

function gate(name: string): Gate {
  const g = {} as Gate;
  g.opened = new Promise((r) => {
    g.open = r;
  });
  g.reached = new Promise((r) => {
    g.reach = r;
  });
  g.finished = new Promise((r) => {
    g.finish = r;
  });
  gates.set(name, g);
  return g;
}

beforeAll(async () => {
  const log = createLogger({
    level: 'debug',
    destination: {
      write(line: string) {
        lines.push(JSON.parse(line));
      },
    },
  });
  const router = new Router();
  const echo = (name: string) => (ctx: HttpContext) => {
    count(name);
    ctx.log.info({ marker: name }, 'handled');
    return {
      data: {
        method: ctx.method,
        body: ctx.body ?? null,
        params: ctx.params,
        query: Object.fromEntries(ctx.query),
        traceId: ctx.traceId,
        operationId: ctx.operationId,
      },
    };
  };
  router.post('/echo', echo('echo'));
  router.put('/echo', echo('echo'));
  router.delete('/echo', echo('echo'));
  router.get('/echo', echo('echo'));
  router.get('/items/:id', echo('items'));
  router.post(
    '/raw',
    (ctx) => {
      count('raw');
      return { raw: ctx.rawBody, contentType: 'application/octet-stream' };
    },
    { body: ['raw'] },
  );
  router.post('/small', echo('small'), { bodyLimit: 1024 });
  router.get('/throws', () => {
    count('throws');
    throw new Error('database password is hunter2 at /srv/secret.ts:12');
  });
  router.get('/refuses', () => {
    throw new AppError('VALIDATION_FAILED', 'data.email is not an email address', {
      field: 'data.email',
      headers: { 'x-extra': 'yes' },
    });
  });
  router.get('/created', () => ({ status: 201, data: { id: 1 }, headers: { location: '/items/1' } }));
  router.get('/empty', () => ({ status: 204 }));
  router.get('/teapot', () => ({ status: 418, data: {} }));
  router.get('/header-injection', (ctx) => ({
    data: {},
    headers: { 'x-name': ctx.query.get('name') ?? '' },
  }));
  router.get('/circular', () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    return { data: a };
  });
  router.get('/no-reply', () => undefined as never);
  router.get('/circular-details', () => {
    const details: Record<string, unknown> = { field: 'x' };
    details.self = details;
    throw new AppError('BAD_REQUEST', undefined, details);
  });
  router.get('/numeric-header', () => ({
    data: {},
    headers: { 'retry-after': 5 as unknown as string, 'bad name': 'x' },
  }));
  router.get('/big', () => ({ raw: Buffer.alloc(32 * 1024 * 1024, 120), contentType: 'text/plain' }));
  router.get('/slow/:name', async (ctx) => {
    const name = ctx.params.name;
    const g = gates.get(name);
    try {
      g?.reach();
      await g?.opened;
      count(`slow-${name}`);
      if (name === 'throwing') throw new Error('after the abort');
      return { data: { name } };
    } finally {
      // Let the answer (or the error) be written before the test goes on.
      setImmediate(() => g?.finish());
    }
  });
  server = new HttpServer(router, {
    host: '127.0.0.1',
    port: 0,
    bodyLimit: LIMIT,
    corsOrigins: 'https://app.example.com, https://other.example.com',
    log,
    registry,
  });
  port = await server.listen();
  base = `http://127.0.0.1:${port}`;
});

afterAll(() => server?.close());

beforeEach(() => {
  lines.length = 0;
  for (const k of Object.keys(calls)) delete calls[k];
});

async function call(
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: string } = {},
) {
  const res = await fetch(base + path, { method, headers: init.headers, body: init.body });
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** A request by node:http, answering with the status, headers and body; `write` drives the body. */
function raw(
  method: string,
  path: string,
  headers: Record<string, string | number>,
  write: (req: ReturnType<typeof httpRequest>, responded: () => boolean) => Promise<void> | void,
): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    let got = false;
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      got = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    // Writing after the server answered early may hit a closed socket: the answer is what counts.
    req.on('error', (err) => {
      if (!got) reject(err);
    });
    Promise.resolve(write(req, () => got)).catch(reject);
  });
}

describe('bodies', () => {
  it('parses JSON', async () => {
    const r = await call('POST', '/echo', {
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ a: 1, nested: { b: [1, 2] }, text: 'ünï' }),
    });
    expect(r.status).toBe(200);
    expect(r.body.data.body).toEqual({ a: 1, nested: { b: [1, 2] }, text: 'ünï' });
  });

  it('parses forms with data[field] nesting and arrays, as the suite’s widgets send them', async () => {
    const form =
      'data%5BfirstName%5D=Ann&data[lastName]=Lee&data[nickname]=A+L&data[custom][tier]=gold&tags[]=a&tags[]=b&plain=%C3%BC';
    const r = await call('POST', '/echo', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    expect(r.status).toBe(200);
    expect(r.body.data.body).toEqual({
      data: { firstName: 'Ann', lastName: 'Lee', nickname: 'A L', custom: { tier: 'gold' } },
      tags: ['a', 'b'],
      plain: 'ü',
    });
  });

  it('drops keys that would reach the prototype', async () => {
    const r = await call('POST', '/echo', {
      headers: { 'content-type': 'application/json' },
      body: '{"__proto__":{"polluted":true},"constructor":{"x":1},"ok":1}',
    });
    expect(r.body.data.body).toEqual({ ok: 1 });
    const f = await call('POST', '/echo', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '__proto__[polluted]=1&data[constructor][x]=1&ok=1',
    });
    expect(f.body.data.body).toEqual({ ok: '1' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('an empty body is no body, with or without a content type', async () => {
    const r = await call('POST', '/echo', { headers: { 'content-type': 'application/json' }, body: '' });
    expect(r.status).toBe(200);
    expect(r.body.data.body).toBeNull();
    const none = await call('POST', '/echo');
    expect(none.status).toBe(200);
    expect(none.body.data.body).toBeNull();
  });

  it('malformed JSON is a 400 with code 1001 and the handler is not called', async () => {
    const r = await call('POST', '/echo', { headers: { 'content-type': 'application/json' }, body: '{"a":' });
    expect(r.status).toBe(400);
    expect(r.body.status).toMatchObject({ code: 1001, name: 'MALFORMED_JSON' });
    expect(r.body.operationId).toMatch(UUID);
    expect(calls.echo).toBeUndefined();
  });

  it('a wrong content type is a 415 with code 1002 and the handler is not called', async () => {
    for (const type of ['text/plain', 'application/xml', undefined]) {
      const headers: Record<string, string> = type ? { 'content-type': type } : {};
      const res = await fetch(`${base}/echo`, { method: 'POST', headers, body: new Uint8Array([1, 2, 3]) });
      expect(res.status).toBe(415);
      expect((await res.json()).status.code).toBe(1002);
    }
    expect(calls.echo).toBeUndefined();
  });

  it('a route that takes raw bytes gets them as they are', async () => {
    const bytes = Buffer.from([0, 255, 1, 254]);
    const res = await fetch(`${base}/raw`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: bytes,
    });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
  });

  it('an oversized body announced by Content-Length is a 413 with code 1003, unread', async () => {
    const r = await raw(
      'POST',
      '/echo',
      { 'content-type': 'application/json', 'content-length': LIMIT + 1 },
      (req) => {
        // Only the headers: the server must answer without waiting for the body.
        req.flushHeaders();
      },
    );
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).status.code).toBe(1003);
    expect(calls.echo).toBeUndefined();
  });

  it('a route’s own, smaller limit applies', async () => {
    const r = await call('POST', '/small', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(2000) }),
    });
    expect(r.status).toBe(413);
    expect(calls.small).toBeUndefined();
  });

  it('a chunked body that grows past the limit is a 413 with code 1003', async () => {
    const r = await raw('POST', '/echo', { 'content-type': 'application/json' }, async (req, responded) => {
      req.write('{"pad":"');
      // Keep sending until the server answers (bounded by far more than the limit).
      for (let i = 0; i < 64 && !responded(); i++) {
        const ok = req.write('x'.repeat(1024));
        if (!ok) await new Promise((r) => req.once('drain', r));
        await new Promise((r) => setImmediate(r));
      }
      if (!responded()) req.end('"}');
    });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).status.code).toBe(1003);
    expect(calls.echo).toBeUndefined();
  });

  it('a chunked body within the limit is read whole', async () => {
    const r = await raw('POST', '/echo', { 'content-type': 'application/json' }, async (req) => {
      req.write('{"a":');
      await new Promise((r) => setImmediate(r));
      req.write('"b');
      await new Promise((r) => setImmediate(r));
      req.end('c"}');
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).data.body).toEqual({ a: 'bc' });
  });
});

describe('aborts', () => {
  it('a client that aborts mid-body does not crash the server, and the handler is not called', async () => {
    await new Promise<void>((resolve) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/echo',
        headers: { 'content-type': 'application/json', 'content-length': 2000 },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write('{"a":"', () => req.destroy());
    });
    const after = await call('GET', '/echo');
    expect(after.status).toBe(200);
    expect(calls.echo).toBe(1);
  });

  it('a client that aborts before the answer does not crash the server, even when the handler then throws', async () => {
    for (const name of ['answering', 'throwing']) {
      const g = gate(name);
      const req = httpRequest({ host: '127.0.0.1', port, method: 'GET', path: `/slow/${name}` });
      const closed = new Promise<void>((r) => {
        req.on('error', () => r());
        req.on('close', () => r());
      });
      req.end();
      await g.reached;
      req.destroy();
      await closed;
      g.open();
      await g.finished;
      expect(calls[`slow-${name}`]).toBe(1);
    }
    // Both handlers finish after their clients left; the server keeps answering.
    const after = await call('GET', '/slow/fresh');
    expect(after.status).toBe(200);
    expect(after.body.data).toEqual({ name: 'fresh' });
  });

  it('a client that aborts mid-response does not crash the server', async () => {
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'GET', path: '/big' }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => {
        if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
      });
      req.end();
    });
    const after = await call('GET', '/echo');
    expect(after.status).toBe(200);
  });
});

describe('answers', () => {
  it('wraps data in the envelope with an operationId', async () => {
    const r = await call('GET', '/echo?x=1&y=two');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(Object.keys(r.body).sort()).toEqual(['data', 'operationId', 'status']);
    expect(r.body.status).toEqual({ code: 0 });
    expect(r.body.operationId).toMatch(UUID);
    expect(r.body.data.operationId).toBe(r.body.operationId);
    expect(r.body.data.query).toEqual({ x: '1', y: 'two' });
  });

  it('decodes path parameters', async () => {
    const r = await call('GET', '/items/a%20b%2Fc');
    expect(r.body.data.params).toEqual({ id: 'a b/c' });
    expect((await call('GET', '/items/%E0%A4%A')).status).toBe(404);
  });

  it('sends the status and headers a handler chose; 204 has no body', async () => {
    const r = await call('GET', '/created');
    expect(r.status).toBe(201);
    expect(r.headers.get('location')).toBe('/items/1');
    const e = await call('GET', '/empty');
    expect(e.status).toBe(204);
    expect(e.text).toBe('');
    expect((await call('GET', '/teapot')).status).toBe(418);
  });

  it('answers HEAD like GET, without a body', async () => {
    const res = await fetch(`${base}/echo`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('404 for an unknown path, code 1005', async () => {
    const r = await call('GET', '/nowhere');
    expect(r.status).toBe(404);
    expect(r.body.status).toMatchObject({ code: 1005, name: 'NOT_FOUND' });
    expect(r.body.operationId).toMatch(UUID);
  });

  it('405 with Allow for a known path and a wrong method, code 1006', async () => {
    const r = await call('PATCH', '/echo');
    expect(r.status).toBe(405);
    expect(r.body.status.code).toBe(1006);
    expect(r.headers.get('allow')?.split(', ').sort()).toEqual(['DELETE', 'GET', 'POST', 'PUT']);
    expect(r.body.status.details).toBeUndefined();
  });

  it('a handler throwing a plain Error is a 500, code 9000, with nothing of the error in the body', async () => {
    const r = await call('GET', '/throws');
    expect(r.status).toBe(500);
    expect(r.body.status).toMatchObject({ code: 9000, name: 'INTERNAL' });
    expect(r.text).not.toMatch(/hunter2|secret\.ts|stack|\bat\b/);
    // The operator sees it in the log, tied to the request.
    const logged = lines.find((l) => l.msg === 'request failed');
    expect(logged).toBeDefined();
    expect(JSON.stringify(logged)).toContain('hunter2');
    expect(logged?.traceId).toBe(r.headers.get('x-b3-traceid'));
  });

  it('an AppError keeps its status, code, message and details; its headers go to the headers', async () => {
    const r = await call('GET', '/refuses');
    expect(r.status).toBe(400);
    expect(r.body.status).toEqual({
      code: 1004,
      name: 'VALIDATION_FAILED',
      message: 'data.email is not an email address',
      details: { field: 'data.email' },
    });
    expect(r.headers.get('x-extra')).toBe('yes');
  });

  it('a reply that cannot be serialised, or no reply at all, is a 500, not a crash', async () => {
    expect((await call('GET', '/circular')).status).toBe(500);
    expect((await call('GET', '/no-reply')).status).toBe(500);
    const d = await call('GET', '/circular-details');
    expect(d.status).toBe(400);
    expect(d.body.status).toMatchObject({ code: 1000, name: 'BAD_REQUEST' });
    expect((await call('GET', '/echo')).status).toBe(200);
  });

  it('a header value cannot split the response', async () => {
    const r = await raw('GET', '/header-injection?name=a%0D%0ASet-Cookie:%20evil=1', {}, (req) => {
      req.end();
    });
    expect(r.status).toBe(200);
    expect(r.headers['set-cookie']).toBeUndefined();
    expect(r.headers['x-name']).toBe('aSet-Cookie: evil=1');
    const n = await call('GET', '/numeric-header');
    expect(n.status).toBe(200);
    expect(n.headers.get('retry-after')).toBe('5');
  });

  it('counts requests and errors in the metrics', async () => {
    await call('GET', '/nowhere');
    const text = await registry.metrics();
    expect(text).toMatch(/nexus_request_total\{method="GET",status="404"\} \d+/);
    expect(text).toMatch(/nexus_errors_total\{method="GET",status="404",code="1005"\} \d+/);
  });
});

describe('CORS', () => {
  it('answers a preflight from an allowed origin', async () => {
    const res = await fetch(`${base}/echo`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, x-api-key',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')).toBe('content-type, x-api-key');
    expect(res.headers.get('access-control-max-age')).toBe('600');
    expect(res.headers.get('vary')).toContain('Origin');
  });

  it('grants nothing to an origin that is not listed', async () => {
    const pre = await fetch(`${base}/echo`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' },
    });
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const r = await call('GET', '/echo', { headers: { origin: 'https://evil.example.com' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('names the allowed origin on answers and errors, and exposes the rate-limit and trace headers', async () => {
    const ok = await call('GET', '/echo', { headers: { origin: 'https://other.example.com' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://other.example.com');
    expect(ok.headers.get('access-control-expose-headers')).toMatch(/Retry-After.*X-B3-TraceId/);
    const err = await call('GET', '/nowhere', { headers: { origin: 'https://other.example.com' } });
    expect(err.headers.get('access-control-allow-origin')).toBe('https://other.example.com');
  });
});

describe('X-B3-TraceId', () => {
  it('echoes a valid trace id and puts it in the request’s log lines', async () => {
    for (const trace of ['463ac35c9f6413ad', '463ac35c9f6413ad48485a3953bb6124']) {
      lines.length = 0;
      const r = await call('GET', '/echo', { headers: { 'x-b3-traceid': trace } });
      expect(r.headers.get('x-b3-traceid')).toBe(trace);
      expect(r.body.data.traceId).toBe(trace);
      const handled = lines.find((l) => l.marker === 'echo');
      expect(handled).toMatchObject({ traceId: trace, msg: 'handled', method: 'GET', path: '/echo' });
    }
  });

  it('generates one when absent or invalid, and logs under it', async () => {
    const cases: Array<Record<string, string>> = [
      {},
      { 'x-b3-traceid': 'not-hex!' },
      { 'x-b3-traceid': 'abc' },
    ];
    for (const headers of cases) {
      lines.length = 0;
      const r = await call('GET', '/echo', { headers });
      const trace = r.headers.get('x-b3-traceid');
      expect(trace).toMatch(/^[0-9a-f]{16}$/);
      expect(trace).not.toBe(headers['x-b3-traceid']);
      expect(lines.find((l) => l.marker === 'echo')?.traceId).toBe(trace);
    }
  });

  it('is on error answers too', async () => {
    const r = await call('POST', '/echo', {
      headers: { 'content-type': 'application/json', 'x-b3-traceid': '0000000000000abc' },
      body: '{',
    });
    expect(r.status).toBe(400);
    expect(r.headers.get('x-b3-traceid')).toBe('0000000000000abc');
  });
});

describe('draining', () => {
  it('answers 503 with code 9002 once draining, health routes excepted', async () => {
    const router = new Router();
    router.get('/work', () => ({ data: {} }));
    router.get('/health/live', () => ({ data: { ok: true } }));
    const s = new HttpServer(router, {
      host: '127.0.0.1',
      port: 0,
      bodyLimit: LIMIT,
      corsOrigins: '*',
      log: createLogger({ level: 'silent' }),
    });
    const p = await s.listen();
    try {
      s.drain();
      const r = await fetch(`http://127.0.0.1:${p}/work`);
      expect(r.status).toBe(503);
      expect((await r.json()).status.code).toBe(9002);
      expect((await fetch(`http://127.0.0.1:${p}/health/live`)).status).toBe(200);
    } finally {
      s.close();
    }
  });
});
