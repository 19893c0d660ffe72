import twilio from 'twilio';
import { describe, expect, it } from 'vitest';
import {
  basicCredentials,
  basicHeader,
  hubSignature,
  safeEqual,
  twilioSignature,
  verifyHubSignature,
} from './signatures.js';

describe('Twilio request signatures', () => {
  // Twilio's documented test vector.
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const params = {
    CallSid: 'CA1234567890ABCDE',
    Caller: '+12349013030',
    Digits: '1234',
    From: '+12349013030',
    To: '+18005551212',
  };

  it('matches the documented test vector', () => {
    expect(twilioSignature('12345', url, params)).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
  });

  it('matches what the twilio package computes, repeated parameters included', () => {
    const cases: Array<[string, Record<string, string | string[]>]> = [
      [url, params],
      [
        'https://nexus.example.com/nexus/v3/sms/twilio/abc',
        { Body: 'héllo ✓ & more', From: '+1555', MessageSid: 'SM1' },
      ],
      [
        'http://127.0.0.1:8080/nexus/v3/sms/twilio/t1',
        { MediaUrl: ['https://b', 'https://a', 'https://a'], NumMedia: '2' },
      ],
      ['https://x.test/hook', {}],
    ];
    for (const [u, p] of cases) {
      const theirs = twilio.getExpectedTwilioSignature('s3cr3t-token', u, p as Record<string, string>);
      expect(twilioSignature('s3cr3t-token', u, p)).toBe(theirs);
      expect(
        twilio.validateRequest(
          's3cr3t-token',
          twilioSignature('s3cr3t-token', u, p),
          u,
          p as Record<string, string>,
        ),
      ).toBe(true);
    }
  });

  it('differs when the token, the URL or a parameter differs', () => {
    const good = twilioSignature('12345', url, params);
    expect(twilioSignature('12346', url, params)).not.toBe(good);
    expect(twilioSignature('12345', `${url}&x=1`, params)).not.toBe(good);
    expect(twilioSignature('12345', url, { ...params, Digits: '1235' })).not.toBe(good);
  });
});

describe('X-Hub-Signature', () => {
  const body = Buffer.from('{"messages":[{"id":"1","text":"hi"}]}');

  it('is sha1= and the lower-case hex HMAC-SHA1 of the raw body', () => {
    expect(hubSignature('key', body)).toMatch(/^sha1=[0-9a-f]{40}$/);
    expect(verifyHubSignature('key', body, hubSignature('key', body))).toBe(true);
    expect(
      verifyHubSignature('key', body, hubSignature('key', body).toUpperCase().replace('SHA1=', 'sha1=')),
    ).toBe(true);
  });

  it('refuses another key, another body, a missing, malformed or oversized header', () => {
    const sig = hubSignature('key', body);
    expect(verifyHubSignature('other', body, sig)).toBe(false);
    expect(verifyHubSignature('key', Buffer.concat([body, Buffer.from(' ')]), sig)).toBe(false);
    expect(verifyHubSignature('key', body, undefined)).toBe(false);
    expect(verifyHubSignature('key', body, 'sha1=zz')).toBe(false);
    expect(verifyHubSignature('key', body, sig.replace('sha1=', 'sha256='))).toBe(false);
    expect(verifyHubSignature('key', body, `${sig}${'0'.repeat(300)}`)).toBe(false);
  });
});

describe('HTTP Basic and constant-time comparison', () => {
  it('reads what basicHeader writes, passwords with colons included', () => {
    expect(basicCredentials(basicHeader('ccid-1', 'a:b:c'))).toEqual({ user: 'ccid-1', password: 'a:b:c' });
    expect(basicCredentials('Bearer abc')).toBeUndefined();
    expect(basicCredentials(`Basic ${Buffer.from('nocolon').toString('base64')}`)).toBeUndefined();
    expect(basicCredentials(undefined)).toBeUndefined();
  });

  it('compares strings of any length without throwing', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
  });
});
