/**
 * One harness per SMS provider over its fake, so the same suites run against every provider:
 * provisioning (the guide's services and a sender id), a properly signed inbound message, a forged
 * one, a receipt, and what the fake received.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { FakeAsync } from '../fakes/sms/async.js';
import { FakeKaleyra } from '../fakes/sms/kaleyra.js';
import { FakePortico } from '../fakes/sms/portico.js';
import type { Recorded, RecordingServer } from '../fakes/sms/server.js';
import { FakeTwilio } from '../fakes/sms/twilio.js';
import { api, type TestNexus } from '../helpers/nexus.js';
import type { TestTenant } from '../helpers/tenants.js';

type Gateway = Pick<TestNexus, 'url'>;
export type ReceiptState = 'delivered' | 'failed' | 'undelivered';

export interface InboundSms {
  id: string;
  from: string;
  text: string;
}

export interface SmsHarness {
  readonly name: 'Async' | 'Portico' | 'mGage' | 'Twilio';
  readonly service: string;
  readonly server: RecordingServer;
  start(): Promise<void>;
  close(): Promise<void>;
  provision(t: Gateway, tenant: TestTenant, channelId: string, opts?: ProvisionOptions): Promise<void>;
  inbound(
    t: Gateway,
    tenant: TestTenant,
    channelId: string,
    m: InboundSms,
  ): Promise<{ status: number; body: any }>;
  /** The same request with a wrong signature or credential. */
  forged(
    t: Gateway,
    tenant: TestTenant,
    channelId: string,
    m: InboundSms,
  ): Promise<{ status: number; body: any }>;
  receipt(
    t: Gateway,
    tenant: TestTenant,
    channelId: string,
    providerId: string,
    state: ReceiptState,
  ): Promise<{ status: number; body: any }>;
  /** Outbound SMS the fake accepted, in order. */
  accepted(): Recorded[];
  /** What an accepted send carried, and the provider id the fake gave it. */
  read(r: Recorded): { to: string; from: string; text: string; providerId: string; callback?: string };
}

export interface ProvisionOptions {
  endpoint?: string;
  cxcOnly?: boolean;
  maxAttempts?: number;
}

export const phone = () => `1650${randomInt(1_000_000, 9_999_999)}`;
export const sid = () => randomBytes(8).toString('hex');

async function ok(what: string, p: Promise<{ status: number; body: any }>): Promise<void> {
  const r = await p;
  if (r.status !== 200 && r.status !== 201)
    throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
}

export async function putService(t: Gateway, tenant: TestTenant, name: string, body: unknown): Promise<void> {
  await ok(
    `service ${name}`,
    api(t.url, 'PUT', `/nexus/v3/provisioning/services/${tenant.ccid}/${name}`, {
      headers: { 'x-api-key': tenant.apiKey },
      json: body,
    }),
  );
}

async function putChannel(
  t: Gateway,
  tenant: TestTenant,
  channelId: string,
  provider: string,
  opts: ProvisionOptions,
): Promise<void> {
  await ok(
    'channel',
    api(t.url, 'PUT', `/nexus/v3/provisioning/channels/${tenant.ccid}/chat.SMS_${channelId}`, {
      headers: { 'x-api-key': tenant.apiKey },
      json: {
        channelId,
        channelType: 'sms',
        endpoint: opts.endpoint ?? 'sms',
        interactionSubtype: 'SMS',
        interactionType: 'Inbound',
        media: 'chat',
        cxcOnly: opts.cxcOnly ?? false,
        provider,
      },
    }),
  );
}

async function smsService(
  t: Gateway,
  tenant: TestTenant,
  provider: string,
  opts: ProvisionOptions,
): Promise<void> {
  await putService(t, tenant, 'SMS', {
    url: 'N/A',
    data: { provider, ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}) },
    secret: {},
  });
}

export function asyncHarness(): SmsHarness & { fake: FakeAsync } {
  const fake = new FakeAsync(`wh-${sid()}`, `api-${sid()}`);
  return {
    name: 'Async',
    service: 'Async',
    fake,
    server: fake.server,
    start: async () => void (await fake.start()),
    close: () => fake.close(),
    async provision(t, tenant, channelId, opts = {}) {
      await putService(t, tenant, 'Async', {
        data: {
          channels: [{ channelId, webhook: { url: `${fake.server.url}/webhook` } }],
          'header:x-custom-1': '12345',
        },
        secret: {
          channels: [{ channelId, webhook: { secret: fake.webhookSecret }, api: { secret: fake.apiSecret } }],
        },
      });
      await smsService(t, tenant, 'Async', opts);
      await putChannel(t, tenant, channelId, 'Async', opts);
    },
    inbound: (t, tenant, channelId, m) =>
      fake.call(t.url, tenant.ccid, channelId, 'messages', {
        messages: [
          {
            id: m.id,
            type: 'Text',
            text: m.text,
            channel: { id: channelId, type: 'sms', from: { id: m.from } },
          },
        ],
      }),
    forged: (t, tenant, channelId, m) =>
      fake.call(
        t.url,
        tenant.ccid,
        channelId,
        'messages',
        { messages: [{ id: m.id, type: 'Text', text: m.text, channel: { from: { id: m.from } } }] },
        { secret: 'not-the-api-secret' },
      ),
    receipt: (t, tenant, channelId, providerId, state) =>
      fake.call(t.url, tenant.ccid, channelId, 'receipts', {
        receipts: [{ messageId: providerId, status: state }],
      }),
    accepted: () => fake.accepted(),
    read: (r) => {
      const m = r.json.messages[0];
      return { to: m.channel.to.id, from: m.channel.from.id, text: m.text, providerId: r.answer.messageId };
    },
  };
}

export function porticoHarness(): SmsHarness & { fake: FakePortico } {
  const fake = new FakePortico(`client-${sid()}`, `secret-${sid()}`);
  const states: Record<ReceiptState, string> = { delivered: '2', undelivered: '5', failed: '8' };
  return {
    name: 'Portico',
    service: 'PorticoSMS',
    fake,
    server: fake.server,
    start: async () => void (await fake.start()),
    close: () => fake.close(),
    async provision(t, tenant, channelId, opts = {}) {
      await putService(t, tenant, 'PurecloudIDP', {
        url: fake.server.url,
        secret: { clientId: fake.clientId, clientSecret: fake.clientSecret },
        data: {},
      });
      await smsService(t, tenant, 'Portico', opts);
      await putService(t, tenant, 'PorticoSMS', { url: fake.server.url, secret: {}, data: {} });
      await putChannel(t, tenant, channelId, 'Portico', opts);
    },
    inbound: (t, tenant, channelId, m) =>
      fake.post(t.url, '/nexus/v3/sms/message', tenant.ccid, tenant.apiKey, {
        type: 'MO',
        message_id: m.id,
        shortcode: channelId,
        phone_number: m.from,
        carrier: 'test',
        message: m.text,
      }),
    forged: (t, tenant, channelId, m) =>
      fake.post(t.url, '/nexus/v3/sms/message', tenant.ccid, `${tenant.apiKey}x`, {
        type: 'MO',
        message_id: m.id,
        shortcode: channelId,
        phone_number: m.from,
        message: m.text,
      }),
    receipt: (t, tenant, _channelId, providerId, state) =>
      fake.post(t.url, '/nexus/v3/sms/receipt', tenant.ccid, tenant.apiKey, {
        type: 'receipt',
        message_id: providerId,
        message_state: states[state],
        result_code: state === 'delivered' ? '0' : '1',
      }),
    accepted: () => fake.accepted(),
    read: (r) => ({
      to: r.form.phone_number,
      from: r.form.sender,
      text: r.form.message,
      providerId: r.form.message_id,
    }),
  };
}

export function kaleyraHarness(): SmsHarness & { fake: FakeKaleyra } {
  const fake = new FakeKaleyra(`user-${sid()}`, `pass-${sid()}`);
  const states: Record<ReceiptState, string> = {
    delivered: 'Delivered',
    undelivered: 'Undelivered',
    failed: 'Failed',
  };
  return {
    name: 'mGage',
    service: 'mGageSMS',
    fake,
    server: fake.server,
    start: async () => void (await fake.start()),
    close: () => fake.close(),
    async provision(t, tenant, channelId, opts = {}) {
      await smsService(t, tenant, 'mGage', opts);
      await putService(t, tenant, 'mGageSMS', {
        url: fake.server.url,
        data: {},
        secret: { username: fake.username, password: fake.password },
      });
      await putChannel(t, tenant, channelId, 'mGage', opts);
    },
    inbound: (t, tenant, channelId, m) =>
      fake.callback(t.url, tenant.ccid, {
        id: m.id,
        source: m.from,
        recipient: channelId,
        message: m.text,
        timestamp: '2026-11-23 10:00:00',
      }),
    forged: (t, tenant, channelId, m) =>
      fake.callback(
        t.url,
        tenant.ccid,
        { id: m.id, source: m.from, recipient: channelId, message: m.text },
        { username: fake.username, password: 'wrong' },
      ),
    receipt: (t, tenant, _channelId, providerId, state) =>
      fake.callback(t.url, tenant.ccid, { id: providerId, status: states[state], description: 'test' }),
    accepted: () => fake.accepted(),
    read: (r) => ({
      to: r.form.to,
      from: r.form.sender,
      text: r.form.body,
      providerId: r.answer.data[0].message_id,
      callback: r.form.callback,
    }),
  };
}

export function twilioHarness(): SmsHarness & { fake: FakeTwilio } {
  const fake = new FakeTwilio(`AC${sid()}${sid()}`, sid() + sid());
  const url = (t: Gateway, tenant: TestTenant) => `${t.url}/nexus/v3/sms/twilio/${tenant.ccid}`;
  const inboundParams = (channelId: string, m: InboundSms) => ({
    MessageSid: m.id,
    SmsSid: m.id,
    AccountSid: fake.accountSid,
    From: `+${m.from}`,
    To: `+${channelId}`,
    Body: m.text,
    NumMedia: '0',
    SmsStatus: 'received',
  });
  const asJson = (r: { status: number; body: string }) => ({
    status: r.status,
    body: r.body.startsWith('{') ? JSON.parse(r.body) : r.body,
  });
  return {
    name: 'Twilio',
    service: 'TwilioSMS',
    fake,
    server: fake.server,
    start: async () => void (await fake.start()),
    close: () => fake.close(),
    async provision(t, tenant, channelId, opts = {}) {
      await smsService(t, tenant, 'Portico', opts);
      await putService(t, tenant, 'TwilioSMS', {
        url: fake.server.url,
        data: { accountSid: fake.accountSid },
        secret: { authToken: fake.authToken },
      });
      await putChannel(t, tenant, channelId, 'Twilio', opts);
    },
    inbound: async (t, tenant, channelId, m) =>
      asJson(await fake.webhook(url(t, tenant), inboundParams(channelId, m))),
    forged: async (t, tenant, channelId, m) =>
      asJson(await fake.webhook(url(t, tenant), inboundParams(channelId, m), `${fake.authToken}x`)),
    receipt: async (t, tenant, channelId, providerId, state) =>
      asJson(
        await fake.webhook(url(t, tenant), {
          MessageSid: providerId,
          SmsSid: providerId,
          AccountSid: fake.accountSid,
          MessageStatus: state,
          SmsStatus: state,
          To: '+15550000000',
          From: `+${channelId}`,
          ...(state === 'delivered' ? {} : { ErrorCode: '30003' }),
        }),
      ),
    accepted: () => fake.accepted(),
    read: (r) => ({
      to: r.form.To,
      from: r.form.From,
      text: r.form.Body,
      providerId: r.answer.sid,
      callback: r.form.StatusCallback,
    }),
  };
}

export const HARNESSES: Array<() => SmsHarness> = [
  asyncHarness,
  porticoHarness,
  kaleyraHarness,
  twilioHarness,
];
