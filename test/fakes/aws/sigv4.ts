/**
 * AWS Signature Version 4, checked the way an AWS service checks it: parse the `Authorization`
 * header, rebuild the canonical request from what arrived, the string to sign and the signing key
 * from the secret we hold, and compare signatures timing-safe. Written from the published algorithm,
 * independently of the SDK's signer, so a signing mistake on either side shows.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SignedRequest {
  method: string;
  /** Path and query exactly as received (still percent-encoded). */
  url: string;
  /** Lower-case names (and `:authority` over HTTP/2); repeated headers joined with `,`. */
  headers: Record<string, string>;
  body: Buffer;
}

/** An AWS error: its HTTP status, `x-amzn-ErrorType` and message. */
export interface AwsRefusal {
  status: number;
  type: string;
  message: string;
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 encoding, as SigV4 wants it (encodeURIComponent leaves `!'()*` alone). */
const uriEncode = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** Non-S3 services: normalise the path, then URI-encode each segment of it once more. */
function canonicalPath(rawPath: string): string {
  const segments: string[] = [];
  for (const seg of rawPath.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') segments.pop();
    else segments.push(seg);
  }
  const path = `/${segments.join('/')}${segments.length && rawPath.endsWith('/') ? '/' : ''}`;
  return uriEncode(path).replace(/%2F/g, '/');
}

function canonicalQuery(rawQuery: string): string {
  if (!rawQuery) return '';
  return rawQuery
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf('=');
      const k = i < 0 ? pair : pair.slice(0, i);
      const v = i < 0 ? '' : pair.slice(i + 1);
      return [uriEncode(safeDecode(k)), uriEncode(safeDecode(v))] as const;
    })
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;.:-]+),\s*Signature=([0-9a-f]{64})$/;

const invalid = (message: string): AwsRefusal => ({
  status: 403,
  type: 'InvalidSignatureException',
  message,
});

/** Undefined when the request is signed by `keys` for `region`/`service`; otherwise AWS's refusal. */
export function checkSigV4(
  req: SignedRequest,
  keys: AwsKeys,
  scope: { region: string; service: string },
  now = Date.now(),
): AwsRefusal | undefined {
  const auth = req.headers.authorization;
  if (!auth)
    return {
      status: 403,
      type: 'MissingAuthenticationTokenException',
      message: 'Missing Authentication Token',
    };
  const m = AUTH.exec(auth);
  if (!m)
    return {
      status: 403,
      type: 'IncompleteSignatureException',
      message: 'Authorization header requires Credential, SignedHeaders and Signature.',
    };
  const [, keyId, date, region, service, signedHeaderList, signature] = m as unknown as string[];
  if (keyId !== keys.accessKeyId)
    return {
      status: 403,
      type: 'UnrecognizedClientException',
      message: 'The security token included in the request is invalid.',
    };
  if (region !== scope.region || service !== scope.service)
    return invalid(
      `Credential should be scoped to a valid region and service ('${scope.region}', '${scope.service}').`,
    );
  const amzDate = req.headers['x-amz-date'];
  if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate))
    return { status: 403, type: 'IncompleteSignatureException', message: 'X-Amz-Date is required.' };
  if (amzDate.slice(0, 8) !== date) return invalid('Credential should be scoped to the date of X-Amz-Date.');
  const signedAt = Date.UTC(
    Number(amzDate.slice(0, 4)),
    Number(amzDate.slice(4, 6)) - 1,
    Number(amzDate.slice(6, 8)),
    Number(amzDate.slice(9, 11)),
    Number(amzDate.slice(11, 13)),
    Number(amzDate.slice(13, 15)),
  );
  if (Math.abs(now - signedAt) > 15 * 60_000) return invalid('Signature expired or not yet current.');
  const signedHeaders = signedHeaderList.split(';');
  // Over HTTP/2 the SDK signs the host as the `:authority` pseudo-header.
  if (!signedHeaders.includes('host') && !signedHeaders.includes(':authority'))
    return invalid("'Host' must be a signed header.");
  const declared = req.headers['x-amz-content-sha256'];
  const bodyHash = sha256(req.body);
  if (declared && declared !== 'UNSIGNED-PAYLOAD' && declared !== bodyHash)
    return {
      status: 400,
      type: 'XAmzContentSHA256Mismatch',
      message: 'The provided x-amz-content-sha256 does not match.',
    };
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
  const canonicalHeaders = signedHeaders
    .map((h) => `${h}:${(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const canonicalRequest = [
    req.method,
    canonicalPath(rawPath),
    canonicalQuery(rawQuery),
    canonicalHeaders,
    signedHeaderList,
    declared ?? bodyHash,
  ].join('\n');
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    `${date}/${region}/${service}/aws4_request`,
    sha256(canonicalRequest),
  ].join('\n');
  const expected = createHmac('sha256', signingKey(keys.secretAccessKey, date, region, service))
    .update(stringToSign, 'utf8')
    .digest();
  const given = Buffer.from(signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return invalid(
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  return undefined;
}
