import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Conversation } from '../../gateway/chat/types.js';
import { entityOf, lifecycleOf } from '../chat-bridge.js';
import { runPlugin, startFakeServer } from '../testing.js';
import type { BusEvent } from '../types.js';
import { eventsPayload, interactionWebhook, notificationOf, traceIdOf, withBase } from './interactions.js';

const conversation = (over: Partial<Conversation> = {}): Conversation => ({
  id: '5a1e2b0c-9d8e-4f00-8a11-0123456789ab',
  ccid: 't',
  state: 'queued',
  channel: 'chat',
  endpoint: 'web',
  customer: {},
  userData: {},
  lastSeq: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...over,
});

const event = (type: BusEvent['type'], data: Record<string, unknown>): BusEvent =>
  ({
    id: '0f9e8d7c-6b5a-4321-9876-fedcba987654',
    type,
    ccid: 't',
    timestamp: '2026-01-01T00:00:00.000Z',
    data,
  }) as BusEvent;

describe('which conversation events start and finish an interaction', () => {
  it('started when created queued or handed over by a bot; finished once when done', () => {
    const created = (state: Conversation['state']) =>
      lifecycleOf({ type: 'conversation.created', conversation: conversation({ state }) });
    expect(created('queued')).toBe('started');
    expect(created('assigned')).toBe('started');
    expect(created('bot')).toBeUndefined();
    const changed = (from: Conversation['state'], to: Conversation['state']) =>
      lifecycleOf({
        type: 'conversation.state-changed',
        conversation: conversation({ state: to }),
        previous: { state: from },
      });
    expect(changed('bot', 'queued')).toBe('started');
    expect(changed('queued', 'assigned')).toBeUndefined();
    expect(changed('assigned', 'asynchold')).toBeUndefined();
    expect(changed('assigned', 'done')).toBe('finished');
    expect(changed('bot', 'done')).toBe('finished');
    expect(changed('done', 'done')).toBeUndefined();
  });

  it('only the interaction events are notifications', () => {
    expect(notificationOf(event('interaction.started', {}))).toBe('STARTED');
    expect(notificationOf(event('interaction.finished', {}))).toBe('FINISHED');
    for (const type of ['conversation.created', 'conversation.state-changed', 'message.created'] as const)
      expect(notificationOf(event(type, { conversation: conversation({ state: 'done' }) }))).toBeUndefined();
  });

  it('the entity: mediaType, subtype, selfUri on the public URL', () => {
    const c = conversation({ channel: 'sms' });
    expect(withBase(entityOf(c), 'https://nexus.example.com')).toEqual({
      id: c.id,
      mediaType: 'chat',
      interactionSubtype: 'SMS',
      selfUri: `https://nexus.example.com/nexus/v3/interactions/${c.id}`,
    });
    expect(entityOf(c).selfUri).toBe(`/nexus/v3/interactions/${c.id}`);
    expect(entityOf(conversation({ channel: 'email' })).mediaType).toBe('email');
  });
});

describe('the EventsPayload and its delivery', () => {
  const started = event('interaction.started', { entity: entityOf(conversation()) });

  it('has the documented shape and a trace id stable across retries', () => {
    expect(eventsPayload(started)).toEqual({
      operationId: started.id,
      data: { entities: [{ event: 'STARTED', entity: started.data.entity }] },
    });
    expect(traceIdOf(started)).toBe('0f9e8d7c6b5a43219876fedcba987654');
    expect(traceIdOf({ ...started, id: 'not-a-uuid' })).toMatch(/^[0-9a-f]{32}$/);
  });

  it('posts it signed; only a 200 counts', async () => {
    const hook = await startFakeServer(() => ({ status: 200 }));
    try {
      const { instance } = await runPlugin(interactionWebhook, {
        url: `${hook.url}/hook`,
        secret: { signingKey: 'k1' },
      });
      await instance.deliver(started);
      const [req] = hook.requests;
      expect(req.headers['x-hub-signature']).toBe(
        `sha1=${createHmac('sha1', 'k1').update(req.body).digest('hex')}`,
      );
      expect(req.headers['x-b3-traceid']).toBe(traceIdOf(started));
      expect(req.json()).toEqual(eventsPayload(started));
      for (const status of [201, 204, 400, 500]) {
        hook.failNext(1, { status });
        await expect(instance.deliver(started)).rejects.toMatchObject({ retryable: true, status });
      }
      await expect(runPlugin(interactionWebhook, { url: hook.url, secret: {} })).rejects.toThrow(
        /signingKey/,
      );
    } finally {
      await hook.close();
    }
  });
});
