/**
 * `athena.nexus.timeout` and `athena.nexus.apiPrefix`: athena calls the gateway under its prefix,
 * with its cluster key naming the tenant, and gives up after the timeout. A gateway that accepts
 * the connection and never answers makes a signed webhook answer 503 UNAVAILABLE (the outbox
 * retries it later) once the timeout has passed, instead of holding the delivery open.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Athena, createAthena } from '../../src/bots/athena.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { api } from '../helpers/nexus.js';

const TIMEOUT_MS = 400;

describe('athena calls the gateway under athena.nexus.apiPrefix and within athena.nexus.timeout', () => {
  let gateway: Server;
  let athena: Athena;
  const seen: IncomingMessage[] = [];
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    // A gateway that takes every request and never answers.
    gateway = createServer((req, res) => {
      seen.push(req);
      held.push(res);
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
    const config = loadConfig({
      env: {},
      overrides: {
        athena: {
          port: 0,
          host: '127.0.0.1',
          nexus: { url, apiKey: 'cluster-key-1', apiPrefix: '/gw/nexus/v3/', timeout: TIMEOUT_MS },
        },
      },
    }).athena;
    athena = createAthena(config, createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
    await athena.start();
  });

  afterAll(async () => {
    await athena?.close();
    for (const r of held) r.destroy();
    gateway?.closeAllConnections();
    await new Promise<void>((r) => gateway?.close(() => r()));
  });

  it('answers 503 UNAVAILABLE once the gateway has not answered within the timeout', async () => {
    const body = JSON.stringify({ id: 'e-1', type: 'message.created', ccid: 'acme', conversationId: 'c-1' });
    const signature = `sha1=${createHmac('sha1', 'any key').update(body).digest('hex')}`;
    const started = Date.now();
    const r = await api(athena.url, 'POST', '/athena/v1/agent-assist-chat/messages', {
      headers: { 'x-ccid': 'acme', 'x-hub-signature': signature, 'content-type': 'application/json' },
      body,
    });
    const took = Date.now() - started;
    expect(r.status).toBe(503);
    expect(r.body.status.code).toBe('UNAVAILABLE');
    expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(took).toBeLessThan(TIMEOUT_MS + 3000);

    // The signing key was asked for under the configured prefix, with the cluster key for the tenant.
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen.map((q) => `${q.method} ${q.url}`)).toEqual(seen.map(() => 'GET /gw/nexus/v3/ai/connector'));
    expect(seen[0].headers['x-api-key']).toBe('cluster-key-1');
    expect(seen[0].headers['x-ccid']).toBe('acme');
  });
});
