import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { channelKey, checkSection, parseChannelBody } from './schema.js';

function field(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe(1004);
    return (e as AppError).details?.field;
  }
  throw new Error('accepted');
}

describe('channel sections', () => {
  it('accepts the guide section names and refuses others', () => {
    for (const s of [
      'chat.SMS_Main_Corporate',
      'chat.SMS_CustomerSupport',
      'cxc.Corporate_Promotions',
      'chat.a-b',
    ]) {
      expect(checkSection(s)).toBe(s);
    }
    for (const s of ['SMS_Main', 'chat.', 'chat.a b', 'cxc.a.b', 'email.x', 'CHAT.x', '', undefined]) {
      expect(field(() => checkSection(s))).toBe('section');
    }
  });

  it('parses the guide sender id options, strings included, with the Portico default', () => {
    const c = parseChannelBody({
      channelId: '1650466114',
      channelType: 'sms',
      endpoint: 'chat.SMSRouting',
      interactionSubtype: 'SMS',
      interactionType: 'Inbound',
      media: 'chat',
      cxcOnly: 'false',
    });
    expect(c).toEqual({
      channelId: '1650466114',
      channelType: 'sms',
      endpoint: 'chat.SMSRouting',
      interactionSubtype: 'SMS',
      interactionType: 'Inbound',
      media: 'chat',
      cxcOnly: false,
      provider: 'Portico',
    });
    expect(parseChannelBody({ channelId: '1650466114', cxcOnly: 'TRUE', provider: 'mGage' })).toMatchObject({
      channelType: 'sms',
      cxcOnly: true,
      provider: 'mGage',
    });
  });

  it('parses the guide email domain options', () => {
    expect(parseChannelBody({ channelId: 'company.com', channelType: 'email', provider: 'Async' })).toEqual({
      channelId: 'company.com',
      channelType: 'email',
      cxcOnly: false,
      provider: 'Async',
    });
    expect(parseChannelBody({ channelId: 'company.com' })).toMatchObject({
      channelType: 'email',
      provider: null,
    });
  });

  it('names the bad field', () => {
    expect(field(() => parseChannelBody({}))).toBe('channelId');
    expect(field(() => parseChannelBody(undefined))).toBe('body');
    expect(field(() => parseChannelBody({ channelId: '123456', channelType: 'fax' }))).toBe('channelType');
    expect(field(() => parseChannelBody({ channelId: '123456', cxcOnly: 'maybe' }))).toBe('cxcOnly');
    expect(field(() => parseChannelBody({ channelId: '123456', provider: 'Nexmo' }))).toBe('provider');
    expect(field(() => parseChannelBody({ channelId: '123456', colour: 'red' }))).toBe('colour');
    expect(field(() => parseChannelBody({ channelId: 'my sender' }))).toBe('channelType');
    expect(field(() => parseChannelBody({ channelId: 'company.com', provider: 'Twilio' }))).toBe('provider');
  });

  it('makes one routing key of the spellings providers use', () => {
    expect(channelKey('+16504661149')).toBe(channelKey('16504661149'));
    expect(channelKey(' Company.COM ')).toBe('company.com');
  });
});
