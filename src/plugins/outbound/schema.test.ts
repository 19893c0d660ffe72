import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { checkForChannel, parseOutboundRequest, requestHash, senderAddress } from './schema.js';

const field = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return (err as AppError).details?.field as string;
  }
  return undefined;
};

describe('outbound request', () => {
  it('needs exactly one of channelId and section, a recipient, and nothing unknown', () => {
    expect(field(() => parseOutboundRequest({ to: 'x', text: 'y' }))).toBe('channelId');
    expect(field(() => parseOutboundRequest({ channelId: 'a', section: 'cxc.b', to: 'x' }))).toBe(
      'channelId',
    );
    expect(field(() => parseOutboundRequest({ channelId: 'a' }))).toBe('to');
    expect(field(() => parseOutboundRequest({ channelId: 'a', to: 'x', cc: 'y' }))).toBeDefined();
    expect(field(() => parseOutboundRequest(undefined))).toBeDefined();
    expect(parseOutboundRequest({ section: 'cxc.b', to: ' x ', text: 'y' })).toEqual({
      section: 'cxc.b',
      to: 'x',
      text: 'y',
    });
  });

  it('checks the fields against the channel type', () => {
    const sms = parseOutboundRequest({ channelId: '16505550100', to: '+1 (650) 555-0101', text: 'hi' });
    expect(field(() => checkForChannel(sms, 'sms', '16505550100'))).toBeUndefined();
    expect(field(() => checkForChannel({ ...sms, subject: 's' }, 'sms', '1'))).toBe('subject');
    expect(field(() => checkForChannel({ ...sms, text: undefined }, 'sms', '1'))).toBe('text');
    expect(field(() => checkForChannel({ ...sms, to: 'a@b.co' }, 'sms', '1'))).toBe('to');

    const email = parseOutboundRequest({
      channelId: 'company.com',
      to: 'a@b.co',
      subject: 's',
      html: '<p/>',
    });
    expect(field(() => checkForChannel(email, 'email', 'company.com'))).toBeUndefined();
    expect(field(() => checkForChannel({ ...email, subject: undefined }, 'email', 'company.com'))).toBe(
      'subject',
    );
    expect(field(() => checkForChannel({ ...email, html: undefined }, 'email', 'company.com'))).toBe('text');
    expect(field(() => checkForChannel({ ...email, to: '16505550100' }, 'email', 'company.com'))).toBe('to');
    expect(field(() => checkForChannel({ ...email, from: 'x@other.org' }, 'email', 'company.com'))).toBe(
      'from',
    );
    expect(field(() => checkForChannel({ ...email, from: 'news@Company.com' }, 'email', 'company.com'))).toBe(
      undefined,
    );
  });

  it('the sender address and the idempotency hash', () => {
    const r = parseOutboundRequest({ channelId: 'company.com', to: 'a@b.co', subject: 's', text: 't' });
    expect(senderAddress(r, 'company.com')).toBe('noreply@company.com');
    expect(senderAddress({ ...r, from: 'news' }, 'company.com')).toBe('news@company.com');
    expect(senderAddress({ ...r, from: 'a@company.com' }, 'company.com')).toBe('a@company.com');
    // The clientMessageId and the order of fields do not matter; the content does.
    expect(requestHash({ ...r, clientMessageId: 'x' })).toBe(requestHash(r));
    expect(requestHash({ text: 't', subject: 's', to: 'a@b.co', channelId: 'company.com' })).toBe(
      requestHash(r),
    );
    expect(requestHash({ ...r, text: 'other' })).not.toBe(requestHash(r));
  });
});
