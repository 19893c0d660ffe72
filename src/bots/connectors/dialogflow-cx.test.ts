import { describe, expect, it } from 'vitest';
import { cxQueryInput, cxResultToTurn } from './dialogflow-cx.js';
import { sessionIdOf } from './google.js';
import { BotConnectorError } from './types.js';

const s = (v: string) => ({ stringValue: v, kind: 'stringValue' });

describe('cxResultToTurn', () => {
  it('hands off on a configured intent or page, with the queue from the session parameters', () => {
    const byIntent = cxResultToTurn(
      {
        responseMessages: [{ text: { text: ['One moment'] }, message: 'text' }],
        match: { intent: { displayName: 'agent.request' } },
        parameters: { fields: { handoffQueue: s('vip') } },
      },
      { handoffIntents: new Set(['agent.request']) },
    );
    expect(byIntent.replies).toEqual([{ text: 'One moment' }]);
    expect(byIntent.handoff).toEqual({ queue: 'vip', reason: expect.stringContaining('agent.request') });
    const byPage = cxResultToTurn(
      { currentPage: { displayName: 'Live Agent' } },
      { handoffPages: new Set(['Live Agent']), handoffQueue: 'general' },
    );
    expect(byPage.handoff).toEqual({ queue: 'general', reason: expect.stringContaining('Live Agent') });
    expect(cxResultToTurn({ currentPage: { displayName: 'Live Agent' } }).handoff).toBeUndefined();
  });

  it('ends on the END_SESSION page; leaves audio and telephony messages out', () => {
    const t = cxResultToTurn({
      responseMessages: [{ playAudio: { audioUri: 'gs://a' } }, { outputAudioText: { text: 'hi' } }],
      currentPage: { name: 'projects/p/locations/l/agents/a/flows/f/pages/END_SESSION' },
      transcript: 'bye now',
    });
    expect(t).toEqual({ replies: [], endConversation: true, transcript: 'bye now' });
  });
});

describe('cxQueryInput', () => {
  it('sends a chosen payload as text, an event by name, and refuses an empty turn or unknown audio', () => {
    expect(
      cxQueryInput({ conversationId: 'c', ccid: 't', event: { name: 'quick-reply', payload: 'Yes' } }, 'en'),
    ).toEqual({
      text: { text: 'Yes' },
      languageCode: 'en',
    });
    expect(cxQueryInput({ conversationId: 'c', ccid: 't', event: { name: 'WELCOME' } }, 'de')).toEqual({
      event: { event: 'WELCOME' },
      languageCode: 'de',
    });
    expect(() => cxQueryInput({ conversationId: 'c', ccid: 't' }, 'en')).toThrow(BotConnectorError);
    expect(() =>
      cxQueryInput(
        { conversationId: 'c', ccid: 't', audio: { content: Buffer.alloc(1), encoding: 'AAC' } },
        'en',
      ),
    ).toThrow(/AAC/);
  });
});

describe('sessionIdOf', () => {
  it('keeps a conversation id Dialogflow takes, and digests any other one stably', () => {
    const uuid = '0b5c6f0e-2f43-4d7c-9d59-3f1d3c9a6b21';
    expect(sessionIdOf(uuid)).toBe(uuid);
    const long = `tenant/${uuid}`;
    expect(sessionIdOf(long)).toMatch(/^[0-9a-f]{36}$/);
    expect(sessionIdOf(long)).toBe(sessionIdOf(long));
    expect(sessionIdOf(long)).not.toBe(sessionIdOf(`other/${uuid}`));
  });
});
