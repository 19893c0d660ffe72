import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpClient } from '../../plugins/http-client.js';
import { createLogger } from '../../shared/logger.js';
import { BotConnectorError, type BotSettings } from './types.js';
import { rasaToTurn, webhookConnector } from './webhook.js';

describe('rasaToTurn', () => {
  it('maps texts, buttons, images and custom data to the canonical turn', () => {
    const turn = rasaToTurn([
      { recipient_id: 'c1', text: 'Hello' },
      {
        text: 'Pick one',
        buttons: [{ title: 'Yes', payload: '/affirm' }, { title: 'No' }, { payload: 'no title' }],
      },
      { image: 'https://example.com/a.png' },
      { custom: { carousel: [1, 2] } },
    ]);
    expect(turn).toEqual({
      replies: [
        { text: 'Hello' },
        { text: 'Pick one', quickReplies: [{ text: 'Yes', payload: '/affirm' }, { text: 'No' }] },
        { image: 'https://example.com/a.png' },
        { custom: { carousel: [1, 2] } },
      ],
    });
  });

  it('reads handoff, end and suggestions from custom, with a default reason', () => {
    expect(rasaToTurn([{ custom: { handoff: { queue: 'billing', reason: 'refund' } } }]).handoff).toEqual({
      queue: 'billing',
      reason: 'refund',
    });
    expect(rasaToTurn([{ custom: { handoff: true } }]).handoff?.reason).toMatch(/handed/);
    expect(rasaToTurn([{ custom: { end: true } }]).endConversation).toBe(true);
    expect(
      rasaToTurn([{ custom: { suggestions: ['a', { text: 'b', confidence: 0.5 }, 3] } }]).suggestions,
    ).toEqual([{ text: 'a' }, { text: 'b', confidence: 0.5 }]);
  });

  it('refuses an answer that is not an array and skips elements it cannot read', () => {
    expect(() => rasaToTurn({ text: 'hi' })).toThrow(BotConnectorError);
    expect(rasaToTurn([null, 'x', 7, { text: '' }])).toEqual({ replies: [] });
  });
});

describe('the webhook connector against an HTTP server', () => {
  let server: Server;
  let url: string;
  const seen: Array<{ headers: IncomingMessage['headers']; body: any }> = [];
  let answer: (body: any) => { status: number; body: string } | 'hang' = () => ({ status: 200, body: '[]' });

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => {
        raw += d;
      });
      req.on('end', () => {
        const body = JSON.parse(raw);
        seen.push({ headers: req.headers, body });
        const a = answer(body);
        if (a === 'hang') return;
        res.writeHead(a.status, { 'content-type': 'application/json' });
        res.end(a.body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/rest/webhook`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const settings = (extra: Partial<BotSettings> = {}): BotSettings => ({
    name: 'helper',
    ccid: 't1',
    provider: 'Webhook',
    url,
    data: { provider: 'Webhook' },
    secret: { token: 's3cret' },
    version: '1',
    ...extra,
  });
  const connector = (timeoutMs = 2000, s = settings()) =>
    webhookConnector(s, { log: createLogger({ level: 'silent' }), http: createHttpClient(), timeoutMs });

  it('posts sender, message and metadata with the bearer token; a quick reply goes back as its payload', async () => {
    answer = () => ({ status: 200, body: JSON.stringify([{ text: 'ok' }]) });
    const turn = await connector().turn({
      conversationId: 'conv-1',
      ccid: 't1',
      text: 'Yes',
      event: { name: 'quickReply', payload: '/affirm' },
      metadata: { mode: 'bot' },
    });
    expect(turn.replies).toEqual([{ text: 'ok' }]);
    const last = seen[seen.length - 1];
    expect(last.body).toEqual({
      sender: 'conv-1',
      message: '/affirm',
      metadata: { ccid: 't1', mode: 'bot' },
    });
    expect(last.headers.authorization).toBe('Bearer s3cret');
  });

  it('maps failures: 5xx unavailable, 4xx rejected, not JSON rejected, too slow timeout', async () => {
    const kind = async () => {
      try {
        await connector(300).turn({ conversationId: 'c', ccid: 't1', text: 'x' });
        return 'none';
      } catch (err) {
        expect(err).toBeInstanceOf(BotConnectorError);
        return (err as BotConnectorError).kind;
      }
    };
    answer = () => ({ status: 503, body: '{}' });
    expect(await kind()).toBe('unavailable');
    answer = () => ({ status: 404, body: '{}' });
    expect(await kind()).toBe('rejected');
    answer = () => ({ status: 200, body: '<html>' });
    expect(await kind()).toBe('rejected');
    answer = () => 'hang';
    expect(await kind()).toBe('timeout');
  });

  it('needs a url', () => {
    expect(() => connector(1000, settings({ url: undefined }))).toThrow(/needs a url/);
  });
});
