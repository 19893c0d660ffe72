import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeLexHeader, lexAnswerToTurn, lexFailure } from './lex-v2.js';

describe('lexAnswerToTurn', () => {
  it('hands off on session attributes, whatever the intent', () => {
    const t = lexAnswerToTurn({
      messages: [{ contentType: 'SSML', content: '<speak>Please <break/> hold</speak>' }],
      sessionState: { dialogAction: { type: 'ElicitIntent' }, sessionAttributes: { handoff: 'true' } },
    });
    expect(t.replies).toEqual([{ text: 'Please hold' }]);
    expect(t.handoff).toEqual({ reason: expect.any(String) });
  });

  it('a handoff or end intent counts only once it is done', () => {
    const opts = { handoffIntents: new Set(['Agent']), endIntents: new Set(['Bye']), handoffQueue: 'q1' };
    const eliciting = lexAnswerToTurn(
      {
        sessionState: {
          dialogAction: { type: 'ElicitSlot' },
          intent: { name: 'Agent', state: 'InProgress' },
        },
      },
      opts,
    );
    expect(eliciting.handoff).toBeUndefined();
    const done = lexAnswerToTurn(
      { sessionState: { intent: { name: 'Agent', state: 'ReadyForFulfillment' } } },
      opts,
    );
    expect(done.handoff).toEqual({ queue: 'q1', reason: expect.stringContaining('Agent') });
    const bye = lexAnswerToTurn(
      { sessionState: { dialogAction: { type: 'Close' }, intent: { name: 'Bye' } } },
      opts,
    );
    expect(bye.endConversation).toBe(true);
    const attr = lexAnswerToTurn({ sessionState: { sessionAttributes: { endConversation: 'true' } } });
    expect(attr.endConversation).toBe(true);
  });

  it('a custom payload that is not JSON is text', () => {
    expect(
      lexAnswerToTurn({ messages: [{ contentType: 'CustomPayload', content: 'plain words' }] }).replies,
    ).toEqual([{ text: 'plain words' }]);
  });
});

describe('Lex plumbing', () => {
  it('decodes gzip+base64 headers, JSON or bare text', () => {
    expect(decodeLexHeader(gzipSync('{"a":1}').toString('base64'))).toEqual({ a: 1 });
    expect(decodeLexHeader(gzipSync('hello there').toString('base64'))).toBe('hello there');
    expect(decodeLexHeader(undefined)).toBeUndefined();
  });

  it('maps failures: throttling and 5xx retryable, 4xx not, aborts are timeouts, no answer is unavailable', () => {
    const http = (status: number, name: string) =>
      Object.assign(new Error('x'), { name, $metadata: { httpStatusCode: status } });
    expect(lexFailure(http(429, 'ThrottlingException'), 'bot', 1).retryable).toBe(true);
    expect(lexFailure(http(500, 'InternalServerException'), 'bot', 1).kind).toBe('unavailable');
    expect(lexFailure(http(404, 'ResourceNotFoundException'), 'bot', 1).kind).toBe('rejected');
    expect(lexFailure(Object.assign(new Error('t'), { name: 'AbortError' }), 'bot', 1).kind).toBe('timeout');
    expect(
      lexFailure(Object.assign(new Error('ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'bot', 1).kind,
    ).toBe('unavailable');
  });
});
