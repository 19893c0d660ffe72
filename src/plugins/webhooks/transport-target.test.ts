import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpClient } from '../http-client.js';
import { type BusEvent, PluginError } from '../types.js';
import { createTransportTarget, hubSignature } from './transport-target.js';

describe('hubSignature', () => {
  it('is sha1= and the hex HMAC-SHA1 of the raw body', () => {
    // RFC 2202 test case 2.
    expect(hubSignature('what do ya want for nothing?', 'Jefe')).toBe(
      'sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79',
    );
  });
});

describe('a webhook transport target', () => {
  let server: Server;
  let url: string;
  let status = 200;
  const got: Array<{ headers: IncomingMessage['headers']; raw: string }> = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => {
        raw += d;
      });
      req.on('end', () => {
        got.push({ headers: req.headers, raw });
        res.writeHead(status);
        res.end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/athena/v1/agent-assist-chat/messages`;
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  // What the AI connector is sent: the planner's own shape (transport-target.ts), not a chat message.
  const event = {
    id: 'e1',
    type: 'message.created',
    ccid: 'tenant-1',
    conversationId: 'c1',
    timestamp: new Date(0).toISOString(),
    data: { text: 'héllo' },
  } as unknown as BusEvent;

  it('signs the exact bytes it sends and names the tenant and a trace id', async () => {
    status = 200;
    await createTransportTarget({ url, signingKey: 'k', http: createHttpClient() }).deliver(event);
    const { headers, raw } = got[got.length - 1];
    expect(JSON.parse(raw)).toEqual(event);
    expect(headers['x-hub-signature']).toBe(`sha1=${createHmac('sha1', 'k').update(raw).digest('hex')}`);
    expect(headers['x-ccid']).toBe('tenant-1');
    expect(headers['x-b3-traceid']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('retries on 5xx and 429, not on other 4xx', async () => {
    const target = createTransportTarget({ url, signingKey: 'k', http: createHttpClient() });
    for (const [s, retryable] of [
      [503, true],
      [429, true],
      [400, false],
    ] as const) {
      status = s;
      const err = await target.deliver(event).catch((e) => e);
      expect(err).toBeInstanceOf(PluginError);
      expect(err.retryable).toBe(retryable);
    }
  });
});
