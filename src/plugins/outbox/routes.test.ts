import { describe, expect, it } from 'vitest';
import { redactPayload } from './routes.js';

describe('outbox payloads as the API shows them', () => {
  it('replaces every credential-looking field, however deep, and keeps the rest', () => {
    const payload = {
      messageId: 'm-1',
      to: '+16505550100',
      headers: { Authorization: 'Bearer abc', 'x-api-key': 'k', accept: 'json' },
      secret: { signingKey: 's' },
      list: [
        { password: 'p', name: 'n' },
        { clientSecret: 'c', apikey: 'a', access_token: 't' },
      ],
      cookie: 'c=1',
      nested: { deeper: { webhookSecret: 'w', text: 'hello' } },
    };
    expect(redactPayload(payload)).toEqual({
      messageId: 'm-1',
      to: '+16505550100',
      headers: { Authorization: '[redacted]', 'x-api-key': '[redacted]', accept: 'json' },
      secret: '[redacted]',
      list: [
        { password: '[redacted]', name: 'n' },
        { clientSecret: '[redacted]', apikey: '[redacted]', access_token: '[redacted]' },
      ],
      cookie: '[redacted]',
      nested: { deeper: { webhookSecret: '[redacted]', text: 'hello' } },
    });
    expect(payload.secret).toEqual({ signingKey: 's' });
  });

  it('leaves scalars and null alone, and stops at a depth bound', () => {
    expect(redactPayload(null)).toBeNull();
    expect(redactPayload('x')).toBe('x');
    let deep: any = { token: 'x' };
    for (let i = 0; i < 100; i++) deep = { d: deep };
    expect(() => redactPayload(deep)).not.toThrow();
  });
});
