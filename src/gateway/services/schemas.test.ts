import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { parseServiceBody, secretFields, serviceSchema } from './schemas.js';

function refusal(name: string, body: unknown): AppError {
  try {
    parseServiceBody(name, body);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error(`${name} accepted ${JSON.stringify(body)}`);
}

const asyncBody = {
  data: {
    channels: [
      { channelId: '16504661149', webhook: { url: 'https://genesys-webhook.company.com' } },
      { channelId: 'company.com', webhook: { url: 'https://genesys-webhook.company.com' } },
    ],
    'header:custom-header-for-async-1': '12345',
  },
  secret: {
    channels: [
      { channelId: '16504661149', webhook: { secret: 'wh-secret' }, api: { secret: 'api-secret' } },
      { channelId: 'company.com', webhook: { secret: 'wh-secret' }, api: { secret: 'api-secret' } },
    ],
  },
};

describe('service schemas', () => {
  it('accepts the bodies of the guide', () => {
    expect(parseServiceBody('SMS', { url: 'N/A', data: { provider: 'mGage' }, secret: {} }).data).toEqual({
      provider: 'mGage',
    });
    expect(
      parseServiceBody('SMS', { url: 'N/A', secret: {}, data: { tokenProvider: 'Purecloud' } }).url,
    ).toBe('N/A');
    expect(
      parseServiceBody('mGageSMS', {
        url: 'http://directtext.mgage.com',
        data: {},
        secret: { username: 'u', password: 'p' },
      }).secret,
    ).toEqual({ username: 'u', password: 'p' });
    expect(parseServiceBody('Async', asyncBody).data['header:custom-header-for-async-1']).toBe('12345');
    parseServiceBody('PurecloudIDP', {
      url: 'https://login.mypurecloud.com',
      secret: { clientId: 'id', clientSecret: 's' },
      data: {},
    });
    parseServiceBody('PorticoSMS', { url: 'https://api.mypurecloud.com', secret: {}, data: {} });
    parseServiceBody('PorticoEmail', { url: 'https://api.mypurecloud.com', secret: {}, data: {} });
    parseServiceBody('Email', { url: 'N/A', secret: {}, data: { provider: 'SparkPost' } });
    parseServiceBody('SparkPostEmail', {
      url: 'https://api.sparkpost.com',
      secret: { apikey: 'k' },
      data: {},
    });
    parseServiceBody('PlatformUCS', { url: 'http://ucs.example.com', secret: {}, data: {} });
    const target = parseServiceBody('WebhookTransportTarget-ai-connector', { url: 'http://athena:4084/x' });
    expect(target).toEqual({ url: 'http://athena:4084/x', data: {}, secret: {} });
  });

  it('accepts TwilioSMS, bots and plugins', () => {
    parseServiceBody('TwilioSMS', { data: { accountSid: 'AC123' }, secret: { authToken: 't' } });
    const cx = parseServiceBody('Bot-sales', {
      data: { provider: 'DialogflowCX', projectId: 'p', agentId: 'a' },
      secret: { credentials: { client_email: 'x' } },
    });
    expect(cx.data.location).toBe('global');
    parseServiceBody('Bot-faq', {
      data: { provider: 'LexV2', botId: 'b', botAliasId: 'a', localeId: 'en_US', region: 'eu-west-1' },
    });
    parseServiceBody('Bot-rasa', {
      url: 'http://rasa:5005/webhooks/rest/webhook',
      data: { provider: 'Webhook' },
    });
    parseServiceBody('Plugin-crm.1', { data: { anything: [1, 2] }, secret: { token: 'x' } });
  });

  it('refuses unknown names loudly with code 1008', () => {
    for (const name of [
      'sms',
      'Foo',
      'Bot-',
      'Bot-a b',
      'WebhookTransportTarget-',
      'constructor',
      '__proto__',
    ]) {
      expect(() => serviceSchema(name)).toThrow(AppError);
      try {
        serviceSchema(name);
      } catch (e) {
        expect((e as AppError).code).toBe(1008);
      }
    }
  });

  it('names the offending field', () => {
    const cases: Array<[string, unknown, string]> = [
      ['mGageSMS', { url: 'http://directtext.mgage.com', secret: { username: 'u' } }, 'secret.password'],
      [
        'mGageSMS',
        { url: 'http://x.example', secret: { username: 'u', password: 'p', pasword: 'p' } },
        'secret.pasword',
      ],
      ['mGageSMS', { url: 'not a url', secret: { username: 'u', password: 'p' } }, 'url'],
      ['mGageSMS', { secret: { username: 'u', password: 'p' } }, 'url'],
      ['SMS', { data: { provider: 'Nope' } }, 'data.provider'],
      ['SMS', { data: {} }, 'data.provider'],
      ['SMS', { data: { provider: 'mGage' }, extra: 1 }, 'extra'],
      ['Email', { data: { provider: 'Mailgun' } }, 'data.provider'],
      ['SparkPostEmail', { url: 'https://api.sparkpost.com', secret: {} }, 'secret.apikey'],
      [
        'PurecloudIDP',
        { url: 'https://login.mypurecloud.com', secret: { clientId: 'x' } },
        'secret.clientSecret',
      ],
      ['TwilioSMS', { data: {}, secret: { authToken: 't' } }, 'data.accountSid'],
      ['WebhookTransportTarget-ai-connector', {}, 'url'],
      ['Bot-x', { data: { provider: 'Watson' } }, 'data.provider'],
      [
        'Bot-x',
        { data: { provider: 'LexV2', botId: 'b', botAliasId: 'a', localeId: 'en_US' } },
        'data.region',
      ],
      ['Bot-x', { data: { provider: 'Webhook' } }, 'url'],
      ['SMS', 'just a string', 'body'],
      ['SMS', undefined, 'body'],
      ['SMS', [], 'body'],
    ];
    for (const [name, body, field] of cases) {
      const e = refusal(name, body);
      expect(e.code, `${name} ${JSON.stringify(body)}`).toBe(1004);
      expect(e.details?.field, `${name} ${JSON.stringify(body)}`).toBe(field);
      expect(e.message.startsWith(field)).toBe(true);
    }
  });

  it('refuses bodies nested deeper than any provider needs, without recursing into them', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 200_000; i++) deep = { a: deep };
    const e = refusal('Plugin-x', { data: {}, secret: deep });
    expect(e.code).toBe(1004);
    expect(e.details?.field).toBe('secret');
  });

  it('names the Async fields, headers included', () => {
    const noWebhook = structuredClone(asyncBody) as any;
    Reflect.deleteProperty(noWebhook.data.channels[1].webhook, 'url');
    expect(refusal('Async', noWebhook).details?.field).toBe('data.channels.1.webhook.url');
    const noApi = structuredClone(asyncBody) as any;
    Reflect.deleteProperty(noApi.secret.channels[0], 'api');
    expect(refusal('Async', noApi).details?.field).toBe('secret.channels.0.api');
    const badHeader = structuredClone(asyncBody) as any;
    badHeader.data['header:x'] = 5;
    expect(refusal('Async', badHeader).details?.field).toBe('data.header:x');
    const unknown = structuredClone(asyncBody) as any;
    unknown.data.webhookUrl = 'x';
    expect(refusal('Async', unknown).details?.field).toBe('data.webhookUrl');
    const missingSecret = structuredClone(asyncBody) as any;
    missingSecret.secret.channels.pop();
    const e = refusal('Async', missingSecret);
    expect(e.details?.field).toBe('secret.channels');
    expect(e.message).toContain('company.com');
  });

  it('lists secret fields without values', () => {
    expect(secretFields({ username: 'u', password: 'p' })).toEqual(['username', 'password']);
    expect(secretFields({})).toEqual([]);
    expect(secretFields(asyncBody.secret)).toEqual([
      'channels.0.channelId',
      'channels.0.webhook.secret',
      'channels.0.api.secret',
      'channels.1.channelId',
      'channels.1.webhook.secret',
      'channels.1.api.secret',
    ]);
  });
});
