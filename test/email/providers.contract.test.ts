/**
 * One contract suite for every email provider, each against a fake that speaks its HTTP contract:
 * what it sends, the provider id it reports, and how it fails (5xx retryable, 4xx and refused
 * credentials not, a hung provider times out), never leaking a secret in an error.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { asyncEmail } from '../../src/plugins/email/async.js';
import { porticoEmail } from '../../src/plugins/email/portico.js';
import { sparkPostEmail } from '../../src/plugins/email/sparkpost.js';
import type { PluginDefinition } from '../../src/plugins/sdk.js';
import { runPlugin } from '../../src/plugins/testing.js';
import { type OutboundEmail, PluginError } from '../../src/plugins/types.js';
import { startAsyncFake } from '../fakes/email/async.js';
import { startPorticoFake } from '../fakes/email/portico.js';
import { startSparkPostFake } from '../fakes/email/sparkpost.js';
import type { EmailFake } from '../fakes/email/types.js';

const SECRET = 'the-provider-secret-4f1c';

interface Subject {
  name: string;
  plugin: PluginDefinition<'email'>;
  /** A fake and the service config that reaches it; `wrong` gives a refused credential. */
  start(): Promise<{ fake: EmailFake; config(opts?: { wrong?: boolean }): any }>;
}

const PROVIDERS: Subject[] = [
  {
    name: 'SparkPostEmail',
    plugin: sparkPostEmail,
    async start() {
      const fake = await startSparkPostFake(SECRET);
      return {
        fake,
        config: (o) => ({ url: fake.url, data: {}, secret: { apikey: o?.wrong ? 'nope' : SECRET } }),
      };
    },
  },
  {
    name: 'Async',
    plugin: asyncEmail,
    async start() {
      const fake = await startAsyncFake(SECRET);
      return {
        fake,
        config: (o) => ({
          data: {
            channels: [{ channelId: 'company.com', webhook: { url: `${fake.url}/some/webhook/path` } }],
          },
          secret: {
            channels: [
              {
                channelId: 'company.com',
                webhook: { secret: o?.wrong ? 'nope' : SECRET },
                api: { secret: 'x' },
              },
            ],
          },
        }),
      };
    },
  },
  {
    name: 'PorticoEmail',
    plugin: porticoEmail,
    async start() {
      const fake = await startPorticoFake('client-1', SECRET);
      return {
        fake,
        config: (o) => ({
          url: fake.url,
          data: {},
          secret: {},
          services: {
            PurecloudIDP: {
              url: fake.url,
              data: {},
              secret: { clientId: 'client-1', clientSecret: o?.wrong ? 'nope' : SECRET },
            },
          },
        }),
      };
    },
  },
];

const email = (over: Partial<OutboundEmail> = {}): OutboundEmail => ({
  messageId: 'm-1',
  from: 'news@company.com',
  fromName: 'Company News',
  to: 'customer@example.org',
  subject: 'Your order',
  text: 'It has shipped.',
  ...over,
});

async function failure(p: Promise<unknown>): Promise<PluginError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(PluginError);
    return err as PluginError;
  }
  throw new Error('expected a failure');
}

describe.each(PROVIDERS)('email provider contract: $name', (subject) => {
  let fake: EmailFake | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  const setup = async (opts?: { wrong?: boolean; callTimeoutMs?: number }) => {
    const s = await subject.start();
    fake = s.fake;
    const { instance } = await runPlugin(subject.plugin, s.config(opts), {
      callTimeoutMs: opts?.callTimeoutMs,
    });
    return { fake: s.fake, email: instance };
  };

  it('sends a text email and reports the provider id the provider answered', async () => {
    const { fake, email: provider } = await setup();
    const r = await provider.send(email());
    expect(r.state).toBe('sent');
    expect(fake.accepted).toHaveLength(1);
    expect(fake.accepted[0]).toMatchObject({
      from: 'news@company.com',
      to: 'customer@example.org',
      subject: 'Your order',
      text: 'It has shipped.',
    });
    expect(r.providerMessageId).toBe(fake.accepted[0].providerId);
  });

  it('sends an HTML-only email', async () => {
    const { fake, email: provider } = await setup();
    await provider.send(email({ text: undefined, html: '<p>It has <b>shipped</b>.</p>' }));
    expect(fake.accepted[0].html).toBe('<p>It has <b>shipped</b>.</p>');
    expect(fake.accepted[0].text).toBeUndefined();
  });

  it('a 5xx is a retryable failure', async () => {
    const { fake, email: provider } = await setup();
    // Portico asks for a token first: let that through, fail the send.
    if (subject.name === 'PorticoEmail') await provider.send(email());
    fake.server.failNext(1, { status: 503, body: { error: 'down' } });
    const e = await failure(provider.send(email({ messageId: 'm-2' })));
    expect(e.retryable).toBe(true);
    expect(e.status).toBe(503);
  });

  it('a 4xx the provider gives for the request is not retried', async () => {
    const { fake, email: provider } = await setup();
    if (subject.name === 'PorticoEmail') await provider.send(email());
    fake.server.failNext(1, { status: 400, body: { error: 'bad request' } });
    const e = await failure(provider.send(email({ messageId: 'm-2' })));
    expect(e.retryable).toBe(false);
  });

  it('a refused credential is not retried, nothing is accepted, and the error carries no secret', async () => {
    const { fake, email: provider } = await setup({ wrong: true });
    const e = await failure(provider.send(email()));
    expect(e.retryable).toBe(false);
    expect(fake.accepted).toHaveLength(0);
    expect(e.message).not.toContain(SECRET);
    expect(e.message).not.toContain('nope');
  });

  it('a provider that hangs fails the call at the timeout, retryably', async () => {
    const { fake, email: provider } = await setup({ callTimeoutMs: 300 });
    fake.server.failAll({ hang: true });
    const started = Date.now();
    const e = await failure(provider.send(email()));
    expect(e.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a provider that is unreachable is a retryable failure', async () => {
    const { fake, email: provider } = await setup();
    await fake.close();
    const e = await failure(provider.send(email()));
    expect(e.retryable).toBe(true);
  });
});

describe('provider specifics', () => {
  it('SparkPost: a url that already ends in /api/v1 is not doubled', async () => {
    const fake = await startSparkPostFake(SECRET);
    try {
      const { instance } = await runPlugin(sparkPostEmail, {
        url: `${fake.url}/api/v1/`,
        secret: { apikey: SECRET },
      });
      await instance.send(email());
      expect(fake.server.requests[0].path).toBe('/api/v1/transmissions');
      expect(fake.server.requests[0].json().metadata).toEqual({ messageId: 'm-1' });
    } finally {
      await fake.close();
    }
  });

  it('Async: sends the static header: properties and a trace id, and refuses a domain it has no channel for', async () => {
    const fake = await startAsyncFake(SECRET);
    try {
      const { instance } = await runPlugin(asyncEmail, {
        data: {
          channels: [{ channelId: 'Company.com', webhook: { url: fake.url } }],
          'header:custom-header-for-async-1': '12345',
        },
        secret: {
          channels: [{ channelId: 'Company.com', webhook: { secret: SECRET }, api: { secret: 'x' } }],
        },
      });
      await instance.send(email());
      const req = fake.server.requests[0];
      expect(req.headers['custom-header-for-async-1']).toBe('12345');
      expect(req.headers['x-b3-traceid']).toMatch(/^[0-9a-f]{32}$/);
      expect(req.json().messages[0]).toMatchObject({
        id: 'm-1',
        channel: { id: 'Company.com', type: 'email' },
      });
      const e = await failure(instance.send(email({ from: 'x@other.org' })));
      expect(e.retryable).toBe(false);
      expect(fake.server.requests).toHaveLength(1);
    } finally {
      await fake.close();
    }
  });

  it('Portico: one token serves many sends; a revoked token is replaced once', async () => {
    const fake = await startPorticoFake('client-1', SECRET);
    try {
      const { instance } = await runPlugin(porticoEmail, {
        url: fake.url,
        services: { PurecloudIDP: { url: fake.url, secret: { clientId: 'client-1', clientSecret: SECRET } } },
      });
      await Promise.all([instance.send(email()), instance.send(email({ messageId: 'm-2' }))]);
      await instance.send(email({ messageId: 'm-3' }));
      expect(fake.tokensIssued()).toBe(1);
      fake.revokeTokens();
      await instance.send(email({ messageId: 'm-4' }));
      expect(fake.tokensIssued()).toBe(2);
      expect(fake.accepted).toHaveLength(4);
    } finally {
      await fake.close();
    }
  });

  it('Portico: without a PurecloudIDP service the instance cannot be built', async () => {
    await expect(runPlugin(porticoEmail, { url: 'http://127.0.0.1:9' })).rejects.toThrow(
      /does not fit plugin portico-email: services/,
    );
  });
});
