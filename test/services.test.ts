/**
 * Provisioned services through the public API, on both engines: every services call of the
 * deployment guide's SMS, email, tenant and AI connector chapters as written there; bad bodies;
 * and the secret, which must never come back, never be logged, and never be stored in plaintext.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startFakeServer } from '../src/plugins/testing.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceStore } from '../src/gateway/services/store.js';
import { SERVICES_CHANGED, type ServiceChange } from '../src/gateway/services/types.js';
import { SecretBox } from '../src/gateway/secret-box.js';
import { AppError } from '../src/shared/errors.js';
import { createLogger } from '../src/shared/logger.js';
import { engines } from './helpers/engines.js';
import { api, startNexus, type TestNexus } from './helpers/nexus.js';
import { createTenant, keyHeaders, type TestTenant } from './helpers/tenants.js';

const secret = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;

/** The guide's variables, with the example values of its prerequisites tables where it gives them. */
const VARS: Record<string, string> = {
  kaleyraURL: 'http://directtext.mgage.com',
  kaleyraUserName: secret('kaleyra-user'),
  kaleyraPassword: secret('kaleyra-pass'),
  asyncPhoneNumber: '16504661149',
  asyncEmailDomain: 'company.com',
  asyncWebhookURL: 'https://genesys-webhook.company.com',
  asyncWebhookSignatureKey: secret('async-webhook'),
  asyncAPISignatureKey: secret('async-api'),
  gcLoginURL: 'https://login.mypurecloud.com',
  gcAPIURL: 'https://api.mypurecloud.com',
  clientId: '4da40a9de-b113-4024-8ba9-c9dd89c91f67',
  clientSecret: secret('purecloud'),
  sparkpostURL: 'https://api.sparkpost.com/api/v1',
  sparkpostApiKey: secret('sparkpost'),
  ucsURL: 'http://ucs.example.com:8080',
};
const SECRET_VALUES = [
  VARS.kaleyraUserName,
  VARS.kaleyraPassword,
  VARS.asyncWebhookSignatureKey,
  VARS.asyncAPISignatureKey,
  VARS.clientSecret,
  VARS.sparkpostApiKey,
];

/** `$name` → its value, as a reader of the guide substitutes them. */
const fill = (s: string) => s.replace(/\$([A-Za-z]+)/g, (_, v: string) => VARS[v] ?? `$${v}`);

// The `-d` bodies of the guide, character for character.
const GUIDE = {
  smsMGage: `{
    "url" : "N/A",
    "data" : { "provider": "mGage" },
    "secret": {}
  }`,
  mGageSMSAsPrinted: `{
    "url": "$kaleyraURL"
    "data": { },
    "secret": {
      "username": "$kaleyraUserName",
      "password": "$kaleyraPassword"
    }
  }`,
  async: `{
    "data": {
      "channels": [
        {
          "channelId": "$asyncPhoneNumber",
          "webhook": { "url": "$asyncWebhookURL" }
        },
        {
          "channelId": "$asyncEmailDomain",
          "webhook": { "url": "$asyncWebhookURL" }
        }
      ]
    },
    "secret": {
      "channels": [
        {
          "channelId": "$asyncPhoneNumber",
          "webhook": { "secret": "$asyncWebhookSignatureKey" },
          "api": { "secret": "$asyncAPISignatureKey" }
        },
        {
          "channelId": "$asyncEmailDomain",
          "webhook": { "secret": "$asyncWebhookSignatureKey" },
          "api": { "secret": "$asyncAPISignatureKey" }
        }
      ]
    }
  }`,
  smsAsync: `{
  "url" : "N/A",
  "data" : { "provider": "Async" },
  "secret": {}
}`,
  purecloudIDP: `{
    "url" : "$gcLoginURL",
    "secret": {"clientId": "$clientId", "clientSecret": "$clientSecret"},
    "data" : {}
  }`,
  smsPurecloud: `{  
  "url" : "N/A",  
  "secret": {},  
  "data" : {"tokenProvider": "Purecloud"}  
}`,
  porticoSMS: `{  
  "url" : "$gcAPIURL",  
  "secret": {},  
  "data": {}  
}`,
  emailSparkPost: `{ "url" : "N/A", "secret": {}, "data" : { "provider":
"SparkPost" } }`,
  sparkPostEmail: `{ "url" : "$sparkpostURL", "secret": { "apikey": "$sparkpostApiKey"}, "data": {} }`,
  emailAsync: `{
  "url" : "N/A",
  "data" : { "provider": "Async" },
  "secret": {}
}`,
  porticoEmail: `{
    "url" : "$gcAPIURL",
    "secret": {},
    "data": {}
  }`,
  platformUCS: `{
    "url" : "$ucsURL",
    "secret": {},
    "data" : {}
  }`,
};

/** The mGageSMS body with the comma the guide's example lacks (see docs/provisioning.md). */
const MGAGE_CORRECTED = GUIDE.mGageSMSAsPrinted.replace('"$kaleyraURL"\n', '"$kaleyraURL",\n');

describe.each(engines())('provisioned services on %s engines', (engine) => {
  const secretsKey = SecretBox.generateKey();
  const logLines: string[] = [];
  const answers: string[] = [];
  let t: TestNexus;
  let a: TestTenant;

  /** A request as the guide's curl sends it (raw JSON text, x-api-key and x-ccid). */
  async function call(
    method: string,
    ccid: string,
    name: string,
    body?: string,
    headers?: Record<string, string>,
  ) {
    const r = await api(t.url, method, `/nexus/v3/provisioning/services/${ccid}/${name}`, {
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(headers ?? keyHeaders(a.apiKey, a.ccid)),
      },
      body,
    });
    answers.push(JSON.stringify(r.body));
    return r;
  }

  const list = async (ccid: string, headers = keyHeaders(a.apiKey, ccid)) => {
    const r = await api(t.url, 'GET', `/nexus/v3/provisioning/services/${ccid}`, { headers });
    answers.push(JSON.stringify(r.body));
    return r;
  };

  const storeFor = (tn: TestNexus) =>
    createServiceStore({
      db: tn.nexus.db,
      state: tn.nexus.state,
      secrets: new SecretBox(secretsKey),
      log: createLogger({ level: 'silent' }),
    });

  beforeAll(async () => {
    t = await startNexus({
      engine,
      onDisk: true,
      nexus: { secretsKey, logLevel: 'trace' },
      logDestination: { write: (line: string) => void logLines.push(line) },
    });
    a = await createTenant(t);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('accepts every services call of the guide as written', async () => {
    const options: Array<Array<[string, string]>> = [
      // SMS option 1 (Kaleyra), with the mGageSMS body corrected
      [
        ['SMS', GUIDE.smsMGage],
        ['mGageSMS', MGAGE_CORRECTED],
      ],
      // SMS option 2 (custom gateway)
      [
        ['Async', GUIDE.async],
        ['SMS', GUIDE.smsAsync],
      ],
      // SMS option 3 (SMS aggregation)
      [
        ['PurecloudIDP', GUIDE.purecloudIDP],
        ['SMS', GUIDE.smsPurecloud],
        ['PorticoSMS', GUIDE.porticoSMS],
      ],
      // Email options 1, 2 and 3
      [
        ['Email', GUIDE.emailSparkPost],
        ['SparkPostEmail', GUIDE.sparkPostEmail],
      ],
      [
        ['Async', GUIDE.async],
        ['Email', GUIDE.emailAsync],
      ],
      [
        ['PurecloudIDP', GUIDE.purecloudIDP],
        ['PorticoEmail', GUIDE.porticoEmail],
      ],
      // Universal Contact Service
      [['PlatformUCS', GUIDE.platformUCS]],
    ];
    for (const calls of options) {
      // Each option of the guide is for a tenant of its own.
      const tenant = await createTenant(t);
      for (const [name, body] of calls) {
        const r = await call('POST', tenant.ccid, name, fill(body), keyHeaders(tenant.apiKey, tenant.ccid));
        expect(r.status, `${name}: ${JSON.stringify(r.body)}`).toBe(201);
        expect(r.body.status.code).toBe(0);
        expect(r.body.data).toMatchObject({ ccid: tenant.ccid, name });
        expect(r.body.data).not.toHaveProperty('secret');
        const read = await call('GET', tenant.ccid, name, undefined, keyHeaders(tenant.apiKey, tenant.ccid));
        expect(read.status).toBe(200);
        expect(read.body.data).toEqual(r.body.data);
      }
      const all = await list(tenant.ccid, keyHeaders(tenant.apiKey, tenant.ccid));
      expect(all.body.data.services.map((s: { name: string }) => s.name).sort()).toEqual(
        calls.map(([n]) => n).sort(),
      );
    }
  });

  it('answers secretFields instead of the secret', async () => {
    const r = await call('POST', a.ccid, 'mGageSMS', fill(MGAGE_CORRECTED));
    expect(r.status).toBe(201);
    expect(r.body.data).toEqual({
      ccid: a.ccid,
      name: 'mGageSMS',
      url: VARS.kaleyraURL,
      data: {},
      secretFields: ['username', 'password'],
      sealedFields: [],
      created: expect.any(String),
      updated: expect.any(String),
    });
    const asyncR = await call('PUT', a.ccid, 'Async', fill(GUIDE.async));
    expect(asyncR.status).toBe(201);
    expect(asyncR.body.data.secretFields).toEqual([
      'channels.0.channelId',
      'channels.0.webhook.secret',
      'channels.0.api.secret',
      'channels.1.channelId',
      'channels.1.webhook.secret',
      'channels.1.api.secret',
    ]);
    expect(asyncR.body.data.data.channels[0]).toEqual({
      channelId: '16504661149',
      webhook: { url: VARS.asyncWebhookURL },
    });
  });

  it('registers the AI connector with the admin bearer, as the guide does', async () => {
    const signingKey = secret('athena-signing');
    SECRET_VALUES.push(signingKey);
    const r = await call(
      'POST',
      a.ccid,
      'WebhookTransportTarget-ai-connector',
      JSON.stringify({
        url: 'http://athena.example:4084/athena/v1/agent-assist-chat/messages',
        secret: { signingKey },
      }),
      { authorization: `Bearer ${t.adminToken}` },
    );
    expect(r.status).toBe(201);
    expect(r.body.data.secretFields).toEqual(['signingKey']);
    // The guide's body holds only the url.
    const other = await createTenant(t);
    const plain = await call(
      'POST',
      other.ccid,
      'WebhookTransportTarget-ai-connector',
      '{\n  "url": "http://athena.example:4084/nexus/v3/agent-assist-chat/messages"\n}',
      { authorization: `Bearer ${t.adminToken}` },
    );
    expect(plain.status).toBe(201);
    expect(plain.body.data.secretFields).toEqual([]);
  });

  it("keeps the guide's mGageSMS body without its comma a clear 400 (1001), storing nothing", async () => {
    const tenant = await createTenant(t);
    const r = await call(
      'POST',
      tenant.ccid,
      'mGageSMS',
      fill(GUIDE.mGageSMSAsPrinted),
      keyHeaders(tenant.apiKey, tenant.ccid),
    );
    expect(r.status).toBe(400);
    expect(r.body.status.code).toBe(1001);
    expect(r.body.status.message).toMatch(/JSON/);
    const read = await call(
      'GET',
      tenant.ccid,
      'mGageSMS',
      undefined,
      keyHeaders(tenant.apiKey, tenant.ccid),
    );
    expect(read.status).toBe(404);
    expect(read.body.status.code).toBe(3002);
  });

  it('refuses bad bodies naming the field, and stores nothing', async () => {
    const tenant = await createTenant(t);
    const h = keyHeaders(tenant.apiKey, tenant.ccid);
    const cases: Array<[string, unknown, string]> = [
      ['mGageSMS', { url: VARS.kaleyraURL, data: {}, secret: { username: 'u' } }, 'secret.password'],
      ['mGageSMS', { url: 'directtext', data: {}, secret: { username: 'u', password: 'p' } }, 'url'],
      ['SMS', { url: 'N/A', data: { provider: 'Kaleyra' }, secret: {} }, 'data.provider'],
      ['SMS', { url: 'N/A', data: { provider: 'mGage' }, secret: {}, extra: true }, 'extra'],
      ['Email', { url: 'N/A', data: {}, secret: {} }, 'data.provider'],
      ['SparkPostEmail', { url: VARS.sparkpostURL, data: {}, secret: { apiKey: 'x' } }, 'secret.apikey'],
      ['PurecloudIDP', { url: VARS.gcLoginURL, data: {}, secret: { clientId: 'x' } }, 'secret.clientSecret'],
      ['Async', { data: { channels: [{ channelId: '1' }] }, secret: {} }, 'data.channels.0.webhook'],
      ['TwilioSMS', { data: { accountSid: 'AC1' }, secret: {} }, 'secret.authToken'],
      ['Bot-sales', { data: { provider: 'LexV2', botId: 'b' } }, 'data.botAliasId'],
      ['WebhookTransportTarget-ai-connector', {}, 'url'],
      ['SMS', [1, 2], 'body'],
    ];
    for (const [name, body, field] of cases) {
      for (const method of ['POST', 'PUT']) {
        const r = await call(method, tenant.ccid, name, JSON.stringify(body), h);
        expect(r.status, `${method} ${name} ${JSON.stringify(r.body)}`).toBe(400);
        expect(r.body.status.code).toBe(1004);
        expect(r.body.status.details.field).toBe(field);
        expect(r.body.status.message).toContain(field);
      }
    }
    const empty = await call('POST', tenant.ccid, 'SMS', undefined, h);
    expect(empty.status).toBe(400);
    expect(empty.body.status.details.field).toBe('body');
    const form = await api(t.url, 'POST', `/nexus/v3/provisioning/services/${tenant.ccid}/SMS`, {
      headers: h,
      form: 'data[provider]=mGage',
    });
    expect(form.status).toBe(415);
    const deep = `{"url":"N/A","data":{},"secret":${'{"a":'.repeat(1000)}1${'}'.repeat(1000)}}`;
    const tooDeep = await call('POST', tenant.ccid, 'Plugin-deep', deep, h);
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.status.details.field).toBe('secret');
    expect((await list(tenant.ccid, h)).body.data.services).toEqual([]);
  });

  it('refuses unknown service names loudly (400, 1008)', async () => {
    for (const [method, body] of [
      ['POST', '{"url":"N/A","data":{"provider":"mGage"},"secret":{}}'],
      ['PUT', '{}'],
      ['GET', undefined],
      ['DELETE', undefined],
    ] as const) {
      const r = await call(method, a.ccid, 'SmS', body);
      expect(r.status, method).toBe(400);
      expect(r.body.status.code).toBe(1008);
      expect(r.body.status.details.field).toBe('serviceName');
      expect(r.body.status.message).toContain('mGageSMS');
    }
  });

  it('creates with POST once (409, 3004), replaces with PUT, deletes once (404, 3002)', async () => {
    const body = JSON.stringify({
      url: VARS.sparkpostURL,
      data: {},
      secret: { apikey: VARS.sparkpostApiKey },
    });
    expect((await call('POST', a.ccid, 'SparkPostEmail', body)).status).toBe(201);
    const again = await call('POST', a.ccid, 'SparkPostEmail', body);
    expect(again.status).toBe(409);
    expect(again.body.status.code).toBe(3004);

    const replaced = await call(
      'PUT',
      a.ccid,
      'SparkPostEmail',
      JSON.stringify({
        url: 'https://api.eu.sparkpost.com/api/v1',
        secret: { apikey: VARS.sparkpostApiKey },
      }),
    );
    expect(replaced.status).toBe(200);
    expect(replaced.body.data.url).toBe('https://api.eu.sparkpost.com/api/v1');
    expect((await call('GET', a.ccid, 'SparkPostEmail')).body.data.url).toBe(
      'https://api.eu.sparkpost.com/api/v1',
    );

    const removed = await call('DELETE', a.ccid, 'SparkPostEmail');
    expect(removed.status).toBe(200);
    expect(removed.body.data.name).toBe('SparkPostEmail');
    for (const method of ['DELETE', 'GET']) {
      const r = await call(method, a.ccid, 'SparkPostEmail');
      expect(r.status).toBe(404);
      expect(r.body.status.code).toBe(3002);
    }
    expect((await call('PUT', a.ccid, 'SparkPostEmail', body)).status).toBe(201);
  });

  it('answers 404 (3000) for a tenant that does not exist', async () => {
    const admin = { authorization: `Bearer ${t.adminToken}` };
    const ghost = `ghost-${randomBytes(4).toString('hex')}`;
    for (const [method, body] of [
      ['POST', GUIDE.smsMGage],
      ['PUT', GUIDE.smsMGage],
      ['GET', undefined],
      ['DELETE', undefined],
    ] as const) {
      const r = await call(method, ghost, 'SMS', body, admin);
      expect(r.status, method).toBe(404);
      expect(r.body.status.code).toBe(3000);
    }
    const r = await list(ghost, admin);
    expect(r.status).toBe(404);
    expect(r.body.status.code).toBe(3000);
  });

  it("refuses another tenant's key (403, 2004) before telling anything", async () => {
    const other = await createTenant(t);
    for (const headers of [
      keyHeaders(other.apiKey),
      keyHeaders(other.apiKey, a.ccid),
      keyHeaders(other.apiKey, other.ccid),
    ]) {
      const r = await call('GET', a.ccid, 'mGageSMS', undefined, headers);
      expect(r.status).toBe(403);
      expect(r.body.status.code).toBe(2004);
      const ghost = await call(
        'GET',
        `ghost-${randomBytes(4).toString('hex')}`,
        'mGageSMS',
        undefined,
        headers,
      );
      expect(ghost.status).toBe(403);
    }
  });

  it('refuses a request without a credential', async () => {
    const r = await call('POST', a.ccid, 'SMS', GUIDE.smsMGage, {});
    expect(r.status).toBe(401);
    expect((await call('GET', a.ccid, 'SMS', undefined, {})).status).toBe(401);
  });

  it('stores the secret sealed: no plaintext in the row, opened only by getWithSecret', async () => {
    const row = await t.nexus.db.query<{ secret_enc: string }>(
      'SELECT secret_enc FROM services WHERE ccid = $1 AND name = $2',
      [a.ccid, 'mGageSMS'],
    );
    const enc = row.rows[0].secret_enc;
    expect(enc).toMatch(/^v1\./);
    for (const v of [VARS.kaleyraUserName, VARS.kaleyraPassword]) {
      expect(enc).not.toContain(v);
      expect(enc).not.toContain(Buffer.from(v).toString('base64url'));
      expect(enc).not.toContain(Buffer.from(v).toString('base64'));
    }
    const whole = await t.nexus.db.query('SELECT * FROM services WHERE ccid = $1', [a.ccid]);
    const dump = JSON.stringify(whole.rows);
    for (const v of SECRET_VALUES) expect(dump).not.toContain(v);

    const opened = await storeFor(t).getWithSecret(a.ccid, 'mGageSMS');
    expect(opened?.secret).toEqual({ username: VARS.kaleyraUserName, password: VARS.kaleyraPassword });
    expect(opened?.secretFields).toEqual(['username', 'password']);
  });

  it('does not open a tampered or moved ciphertext', async () => {
    const store = storeFor(t);
    const other = await createTenant(t);
    expect(
      (
        await call(
          'POST',
          other.ccid,
          'mGageSMS',
          fill(MGAGE_CORRECTED),
          keyHeaders(other.apiKey, other.ccid),
        )
      ).status,
    ).toBe(201);
    const { rows } = await t.nexus.db.query<{ secret_enc: string }>(
      'SELECT secret_enc FROM services WHERE ccid = $1 AND name = $2',
      [other.ccid, 'mGageSMS'],
    );
    const [v, nonce, ct, tag] = rows[0].secret_enc.split('.');
    const bytes = Buffer.from(ct, 'base64url');
    bytes[0] ^= 0x01;
    const tampered = [v, nonce, bytes.toString('base64url'), tag].join('.');
    await t.nexus.db.query('UPDATE services SET secret_enc = $3 WHERE ccid = $1 AND name = $2', [
      other.ccid,
      'mGageSMS',
      tampered,
    ]);
    const err = await store.getWithSecret(other.ccid, 'mGageSMS').catch((e) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe(3102);

    // A's valid ciphertext copied onto another tenant's row is bound to A and does not open there.
    const a1 = await t.nexus.db.query<{ secret_enc: string }>(
      'SELECT secret_enc FROM services WHERE ccid = $1 AND name = $2',
      [a.ccid, 'mGageSMS'],
    );
    await t.nexus.db.query('UPDATE services SET secret_enc = $3 WHERE ccid = $1 AND name = $2', [
      other.ccid,
      'mGageSMS',
      a1.rows[0].secret_enc,
    ]);
    expect(((await store.getWithSecret(other.ccid, 'mGageSMS').catch((e) => e)) as AppError).code).toBe(3102);
    // The API never opens secrets, so reading the record still works.
    expect(
      (await call('GET', other.ccid, 'mGageSMS', undefined, keyHeaders(other.apiKey, other.ccid))).status,
    ).toBe(200);
  });

  it(`announces changes on ${SERVICES_CHANGED}`, async () => {
    const store = storeFor(t);
    const seen: ServiceChange[] = [];
    let wake: () => void = () => undefined;
    const stop = await store.onChange((c) => {
      if (c.ccid !== a.ccid || c.name !== 'PorticoSMS') return;
      seen.push(c);
      if (seen.length === 3) wake();
    });
    const all = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const body = fill(GUIDE.porticoSMS);
    await call('PUT', a.ccid, 'PorticoSMS', body);
    await call('PUT', a.ccid, 'PorticoSMS', body);
    await call('DELETE', a.ccid, 'PorticoSMS');
    await all;
    await stop();
    expect(seen.map((c) => c.op)).toEqual(['created', 'replaced', 'deleted']);
  });

  it('keeps services and their secrets across a restart', async () => {
    t = await t.restart();
    const r = await call('GET', a.ccid, 'mGageSMS');
    expect(r.status).toBe(200);
    expect(r.body.data.secretFields).toEqual(['username', 'password']);
    const opened = await storeFor(t).getWithSecret<{ password: string }>(a.ccid, 'mGageSMS');
    expect(opened?.secret.password).toBe(VARS.kaleyraPassword);
    expect((await list(a.ccid)).body.data.services.map((s: { name: string }) => s.name)).toContain('Async');
  });

  it('never returns or logs a secret', () => {
    expect(answers.length).toBeGreaterThan(50);
    const said = answers.join('\n');
    const logged = logLines.join('');
    // The log did capture the provisioning (so its silence about secrets means something).
    expect(logged).toContain('service changed');
    expect(logged).toContain(a.ccid);
    for (const v of SECRET_VALUES) {
      expect(said).not.toContain(v);
      expect(logged).not.toContain(v);
    }
  });
});

/**
 * A plugin may mark a field secret anywhere in its config, not only under `secret`: in `data`, in
 * each element of an array, in each value of a record. Provisioned through the REST API, those values
 * are sealed like the secret: not in the row, never in an answer or a log, and the plugin still gets
 * them in plaintext.
 */
describe.each(engines())('secret fields outside `secret`, on %s engines', (engine) => {
  const PLUGIN = join(import.meta.dirname, 'plugins/fixtures/nested-secrets-plugin.mjs');
  const NAME = 'Plugin-nested-secrets';
  const apiKey = secret('data-apikey');
  const passwords = [secret('endpoint-pass-a'), secret('endpoint-pass-b')];
  const token = secret('account-token');
  const topToken = secret('top-token');
  const SEALED = [apiKey, ...passwords, token, topToken];
  const body = {
    url: '',
    data: {
      region: 'eu-west',
      apiKey,
      endpoints: [
        { name: 'a', password: passwords[0] },
        { name: 'b', password: passwords[1] },
        { name: 'c' },
      ],
      accounts: { main: { login: 'ops', token } },
    },
    secret: { token: topToken },
  };
  const withoutSecrets = {
    region: 'eu-west',
    endpoints: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
    accounts: { main: { login: 'ops' } },
  };
  const logLines: string[] = [];
  const answers: string[] = [];
  let t: TestNexus;
  let a: TestTenant;
  let receiver: Awaited<ReturnType<typeof startFakeServer>>;

  const services = async (method: string, path: string, json?: unknown) => {
    const r = await api(t.url, method, `/nexus/v3/provisioning/services/${a.ccid}${path}`, {
      headers: keyHeaders(a.apiKey, a.ccid),
      json,
    });
    answers.push(JSON.stringify(r.body));
    return r;
  };

  beforeAll(async () => {
    receiver = await startFakeServer(() => ({ status: 200 }));
    body.url = `${receiver.url}/hook`;
    t = await startNexus({
      engine,
      nexus: { plugins: { modules: PLUGIN }, logLevel: 'trace' },
      logDestination: { write: (line: string) => void logLines.push(line) },
    });
    a = await createTenant(t);
  });
  afterAll(async () => {
    await t?.cleanup();
    await receiver?.close();
  });

  it('keeps them out of the row and out of every answer', async () => {
    const put = await services('PUT', `/${NAME}`, body);
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    expect(put.body.data.data).toEqual(withoutSecrets);
    expect(put.body.data.secretFields).toEqual(['token']);
    // What is set outside `secret` is named, by its path from the service's root, without its value.
    expect([...put.body.data.sealedFields].sort()).toEqual([
      'data.accounts.main.token',
      'data.apiKey',
      'data.endpoints.0.password',
      'data.endpoints.1.password',
    ]);
    const read = await services('GET', `/${NAME}`);
    expect(read.status).toBe(200);
    expect(read.body.data).toEqual(put.body.data);
    const all = await services('GET', '');
    expect(all.body.data.services.find((s: { name: string }) => s.name === NAME).data).toEqual(
      withoutSecrets,
    );

    const { rows } = await t.nexus.db.query('SELECT * FROM services WHERE ccid = $1', [a.ccid]);
    expect(rows).toHaveLength(1);
    expect(rows[0].data).toEqual(withoutSecrets);
    const dump = JSON.stringify(rows);
    for (const v of SEALED) {
      expect(dump).not.toContain(v);
      expect(dump).not.toContain(Buffer.from(v).toString('base64url'));
      expect(dump).not.toContain(Buffer.from(v).toString('base64'));
    }
  });

  it('gives them to the plugin in plaintext', async () => {
    const s = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
      headers: keyHeaders(a.apiKey),
      form: 'data[nickname]=Ada&data[endpoint]=web',
    });
    expect(s.status).toBe(200);
    const [got] = await receiver.waitForRequests(1, 15_000);
    expect(got.json()).toEqual({ data: body.data, secret: body.secret });
  });

  it('seals the new values when the service is replaced, and a value left out stays out', async () => {
    const next = { ...body, data: { ...body.data, apiKey: secret('data-apikey-2'), endpoints: [] } };
    SEALED.push(next.data.apiKey);
    const put = await services('PUT', `/${NAME}`, next);
    expect(put.status).toBe(200);
    expect(put.body.data.data).toEqual({ ...withoutSecrets, endpoints: [] });
    expect([...put.body.data.sealedFields].sort()).toEqual(['data.accounts.main.token', 'data.apiKey']);
    const { rows } = await t.nexus.db.query('SELECT * FROM services WHERE ccid = $1', [a.ccid]);
    expect(JSON.stringify(rows)).not.toContain(next.data.apiKey);
    // The plugin is rebuilt from the new service: the next conversation carries the new key.
    const s = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
      headers: keyHeaders(a.apiKey),
      form: 'data[nickname]=Grace&data[endpoint]=web',
    });
    expect(s.status).toBe(200);
    const requests = await receiver.waitForRequests(2, 15_000);
    expect(requests[1].json()).toEqual({ data: next.data, secret: body.secret });
  });

  it('never logs them', () => {
    const logged = logLines.join('');
    // The plugin's config was logged (redacted) and the provisioning too: the silence means something.
    expect(logged).toContain('plugin instance created');
    expect(logged).toContain('[redacted]');
    expect(logged).toContain('service changed');
    const said = answers.join('\n');
    for (const v of SEALED) {
      expect(logged).not.toContain(v);
      expect(said).not.toContain(v);
    }
  });
});
