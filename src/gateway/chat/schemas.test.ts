import { describe, expect, it } from 'vitest';
import { agentSendSchema, consumerSendSchema } from './schemas.js';

const conversationId = '00000000-0000-4000-8000-000000000000';

describe('message schemas', () => {
  it('refuse content PostgreSQL jsonb cannot store: a lone surrogate in a value or a key, however deep', () => {
    for (const content of [
      { a: 'x\ud800' },
      { cards: [{ title: 'ok', buttons: [{ text: '\udfff' }] }] },
      { ['\udbff']: 1 },
      { a: { b: { c: ['\udc00\ud800'] } } },
    ]) {
      expect(consumerSendSchema.safeParse({ clientMessageId: 'c1', type: 'Rich', content }).success).toBe(
        false,
      );
      expect(
        agentSendSchema.safeParse({ clientMessageId: 'c1', type: 'Rich', content, conversationId }).success,
      ).toBe(false);
    }
  });

  it('accept surrogate pairs (emoji) and text that only looks like an escape', () => {
    const content = { a: '😀', b: '\\ud800', c: [{ d: 'ok' }] };
    expect(consumerSendSchema.safeParse({ clientMessageId: 'c1', type: 'Rich', content }).success).toBe(true);
  });
});
