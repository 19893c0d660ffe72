/**
 * The fake's SigV4 check against AWS's published test vector (`get-vanilla` of the SigV4 test
 * suite), so the Lex fake's refusals mean what AWS's would. Requests signed by the SDK itself are
 * checked in the connector and speech suites, through the Lex fake.
 */
import { describe, expect, it } from 'vitest';
import { checkSigV4 } from './sigv4.js';

const keys = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const at = Date.UTC(2015, 7, 30, 12, 36, 0);
const vanilla = {
  method: 'GET',
  url: '/',
  headers: {
    host: 'example.amazonaws.com',
    'x-amz-date': '20150830T123600Z',
    authorization:
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
  },
  body: Buffer.alloc(0),
};
const scope = { region: 'us-east-1', service: 'service' };

describe('SigV4 check', () => {
  it("accepts AWS's get-vanilla test vector", () => {
    expect(checkSigV4(vanilla, keys, scope, at)).toBeUndefined();
  });

  it('refuses another secret, a changed header, an old date, another key and another scope', () => {
    expect(checkSigV4(vanilla, { ...keys, secretAccessKey: 'other' }, scope, at)?.type).toBe(
      'InvalidSignatureException',
    );
    expect(
      checkSigV4({ ...vanilla, headers: { ...vanilla.headers, host: 'evil.example.com' } }, keys, scope, at)
        ?.type,
    ).toBe('InvalidSignatureException');
    expect(checkSigV4({ ...vanilla, url: '/other' }, keys, scope, at)?.type).toBe(
      'InvalidSignatureException',
    );
    expect(checkSigV4(vanilla, keys, scope, at + 16 * 60_000)?.message).toMatch(/expired/);
    expect(checkSigV4(vanilla, { ...keys, accessKeyId: 'AKIDOTHER' }, scope, at)?.type).toBe(
      'UnrecognizedClientException',
    );
    expect(checkSigV4(vanilla, keys, { region: 'eu-west-1', service: 'service' }, at)?.status).toBe(403);
  });

  it('refuses a request without a signature, or with a mangled one', () => {
    const { authorization: _a, ...unsigned } = vanilla.headers;
    expect(checkSigV4({ ...vanilla, headers: unsigned }, keys, scope, at)?.type).toBe(
      'MissingAuthenticationTokenException',
    );
    expect(
      checkSigV4(
        { ...vanilla, headers: { ...vanilla.headers, authorization: 'AWS4-HMAC-SHA256 junk' } },
        keys,
        scope,
        at,
      )?.type,
    ).toBe('IncompleteSignatureException');
  });

  it('refuses a body that does not match its declared hash', () => {
    const req = { ...vanilla, headers: { ...vanilla.headers, 'x-amz-content-sha256': '0'.repeat(64) } };
    expect(checkSigV4(req, keys, scope, at)?.type).toBe('XAmzContentSHA256Mismatch');
  });
});
