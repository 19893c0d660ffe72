/**
 * The Async provider's outbound webhook as the issue states it: signed with the channel's webhook
 * secret, with the service's static `header:` properties as headers, the answer's `{ messageId }`
 * kept as the provider id, and a 10 s timeout (a webhook that never answers fails then, retryably,
 * well before the gateway's own call timeout).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ASYNC_WEBHOOK_TIMEOUT_MS, asyncSms } from '../../src/plugins/sms/async.js';
import { hubSignature, runPlugin } from '../../src/plugins/testing.js';
import { PluginError } from '../../src/plugins/types.js';
import { FakeAsync } from '../fakes/sms/async.js';

const WEBHOOK_SECRET = 'async-webhook-secret-93b2';

const config = (url: string) => ({
  data: {
    channels: [{ channelId: '16505550100', webhook: { url } }],
    'header:x-custom-1': '12345',
    'header:x-tenant-region': 'eu-west',
  },
  secret: {
    channels: [{ channelId: '16505550100', webhook: { secret: WEBHOOK_SECRET }, api: { secret: 'api' } }],
  },
});

const sms = { messageId: 'm-1', from: '16505550100', to: '+16505550199', text: 'Your table is ready.' };

describe('Async SMS outbound webhook', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  it('is signed with the webhook secret, carries the static header: properties, and keeps the messageId', async () => {
    const fake = await new FakeAsync(WEBHOOK_SECRET, 'api').start();
    closers.push(() => fake.server.close());
    const { instance } = await runPlugin(asyncSms, config(`${fake.server.url}/webhook`));
    const sent = await instance.send(sms);
    // The fake answers 401 to a signature that does not verify with the webhook secret.
    const [rec] = fake.accepted();
    expect(sent).toEqual({ providerMessageId: rec.answer.messageId, state: 'sent' });
    expect(rec.headers['x-hub-signature']).toBe(hubSignature(WEBHOOK_SECRET, rec.raw));
    expect(rec.headers['x-custom-1']).toBe('12345');
    expect(rec.headers['x-tenant-region']).toBe('eu-west');
    expect(rec.json.messages[0]).toMatchObject({ text: sms.text });
  });

  it(`fails at ${ASYNC_WEBHOOK_TIMEOUT_MS / 1000} s, retryably, when the webhook never answers`, async () => {
    let heard!: () => void;
    const requested = new Promise<void>((r) => {
      heard = r;
    });
    // Reads the request and never answers.
    const server: Server = createServer((req) => {
      req.resume();
      heard();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`;
    const { instance } = await runPlugin(asyncSms, config(url), { callTimeoutMs: 60_000 });
    const started = Date.now();
    const err = await instance.send(sms).then(
      () => undefined,
      (e: unknown) => e,
    );
    const took = Date.now() - started;
    await requested;
    expect(err).toBeInstanceOf(PluginError);
    expect((err as PluginError).retryable).toBe(true);
    expect(took).toBeGreaterThanOrEqual(ASYNC_WEBHOOK_TIMEOUT_MS - 50);
    expect(took).toBeLessThan(ASYNC_WEBHOOK_TIMEOUT_MS + 5000);
  }, 30_000);
});
