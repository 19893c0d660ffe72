import { describe, expect, it } from 'vitest';
import { esQuery, esResultToTurn } from './dialogflow-es.js';

describe('esResultToTurn', () => {
  it('hands off on a configured intent; a card postback that is a link opens it', () => {
    const t = esResultToTurn(
      {
        fulfillmentMessages: [
          {
            card: {
              title: 'Help',
              buttons: [{ text: 'Site', postback: 'https://x.example' }, { text: 'Plain' }],
            },
          },
          { image: { imageUri: 'https://x.example/i.png' } },
        ],
        intent: { displayName: 'human' },
      },
      { handoffIntents: new Set(['human']) },
    );
    expect(t.replies).toEqual([
      {
        cards: [{ title: 'Help', buttons: [{ text: 'Site', url: 'https://x.example' }, { text: 'Plain' }] }],
      },
      { image: 'https://x.example/i.png' },
    ]);
    expect(t.handoff?.reason).toContain('human');
  });

  it('falls back to fulfillmentText; the transcript only for audio', () => {
    expect(esResultToTurn({ fulfillmentText: 'Hi', queryText: 'hello' })).toEqual({
      replies: [{ text: 'Hi' }],
    });
    expect(esResultToTurn({ fulfillmentText: 'Hi', queryText: 'hello' }, { audio: true }).transcript).toBe(
      'hello',
    );
  });
});

describe('esQuery', () => {
  it('an event carries its object payload as parameters; audio needs a rate unless Opus', () => {
    const q = esQuery({ conversationId: 'c', ccid: 't', event: { name: 'ORDER', payload: { id: 7 } } }, 'en');
    expect(q).toEqual({
      queryInput: {
        event: { name: 'ORDER', languageCode: 'en', parameters: { fields: { id: { numberValue: 7 } } } },
      },
    });
    const opus = esQuery(
      { conversationId: 'c', ccid: 't', audio: { content: Buffer.from('a'), encoding: 'OGG_OPUS' } },
      'en',
    );
    expect(opus.queryInput).toEqual({
      audioConfig: { audioEncoding: 'AUDIO_ENCODING_OGG_OPUS', sampleRateHertz: 48_000, languageCode: 'en' },
    });
    expect(() =>
      esQuery(
        { conversationId: 'c', ccid: 't', audio: { content: Buffer.from('a'), encoding: 'LINEAR16' } },
        'en',
      ),
    ).toThrow(/sample rate/);
  });
});
