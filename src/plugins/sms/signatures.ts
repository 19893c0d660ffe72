/**
 * The signature and credential checks of the SMS providers, all constant-time: a mismatch takes
 * as long as a match of the same length, so a forger learns nothing from the timing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { PluginError } from '../types.js';

/** Compares two strings in constant time (their lengths are not secret). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  if (x.length !== y.length) {
    // Still spend the comparison so that a wrong length is not cheaper than a wrong value.
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

/** `sha1=<lower-case hex HMAC-SHA1 of the raw body>`, as the third-party messaging API signs. */
export function hubSignature(secret: string, body: Buffer | string): string {
  return `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`;
}

/** True when `header` is the hub signature of `body` with `secret` (hex accepted in either case). */
export function verifyHubSignature(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header || header.length > 200) return false;
  const given = header.trim();
  const m = /^sha1=([0-9a-fA-F]{40})$/.exec(given);
  const expected = hubSignature(secret, body);
  return safeEqual(m ? `sha1=${m[1].toLowerCase()}` : given, expected);
}

/**
 * Twilio's request signature: HMAC-SHA1 (keyed with the auth token) over the full URL followed by
 * every POST parameter's name and value, sorted by name, base64-encoded.
 */
export function twilioSignature(
  authToken: string,
  url: string,
  params: Record<string, string | string[]>,
): string {
  let data = url;
  for (const name of Object.keys(params).sort()) {
    const v = params[name];
    // Repeated parameters are signed once per distinct value, sorted (as Twilio's libraries do).
    for (const value of Array.isArray(v) ? [...new Set(v)].sort() : [v]) data += name + value;
  }
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

/** The `user:password` of an HTTP Basic `Authorization` header, or undefined. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  if (!header || header.length > 4096) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

export function basicHeader(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/** What a plugin throws when an inbound request does not verify: the route answers 401. */
export function refused(why: string): PluginError {
  return new PluginError(why, { retryable: false, status: 401 });
}

/** What a plugin throws when a verified request lacks what it must carry: the route answers 400. */
export function unreadable(why: string): PluginError {
  return new PluginError(why, { retryable: false, status: 400 });
}
