/**
 * Admin credentials confirmed by an OAuth2 server through RFC 7662 token introspection (the role
 * of the suite's auth service). Answers, active or not, are cached in the shared kv for
 * `cacheSeconds` (never beyond the token's own `exp`) so that all nodes ask the server once per
 * token; the cache key is a hash of the token, and the token itself is never stored or logged.
 */
import { createHash } from 'node:crypto';
import { AppError } from '../../shared/errors.js';
import type { KeyValueStore } from '../../shared/state/types.js';

export interface IntrospectionConfig {
  url: string;
  clientId: string;
  clientSecret: string;
  cacheSeconds: number;
}

export interface Introspector {
  /**
   * The principal when the server says the token is active; throws INVALID_TOKEN otherwise.
   * `scopes` are the answer's space-separated `scope`; `username` its `username` (the suite's
   * tenant users are `<ccid>\\<user>`).
   */
  verify(token: string): Promise<{ subject: string; scopes: string[]; username?: string }>;
}

interface Verdict {
  active: boolean;
  subject?: string;
  scopes?: string[];
  username?: string;
}

const TIMEOUT_MS = 5000;

export function createIntrospector(cfg: IntrospectionConfig, kv: () => KeyValueStore): Introspector {
  const cacheKey = (token: string) =>
    `auth:introspection:${createHash('sha256').update(token).digest('hex')}`;

  async function ask(token: string): Promise<{ verdict: Verdict; ttlMs: number }> {
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (cfg.clientId) {
      // RFC 6749 §2.3.1: client id and secret are form-encoded before they are joined.
      const basic = `${encodeURIComponent(cfg.clientId)}:${encodeURIComponent(cfg.clientSecret)}`;
      headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
    }
    let body: Record<string, unknown>;
    try {
      const res = await fetch(cfg.url, {
        method: 'POST',
        headers,
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      if (!res.ok) throw new Error(`introspection answered HTTP ${res.status}`);
      body = (await res.json()) as Record<string, unknown>;
      if (!body || typeof body !== 'object' || typeof body.active !== 'boolean') {
        throw new Error('introspection answer has no boolean "active"');
      }
    } catch (err) {
      throw new AppError(
        'UNAVAILABLE',
        'The token introspection server cannot confirm the token now.',
        undefined,
        {
          cause: err,
        },
      );
    }
    const cacheMs = cfg.cacheSeconds * 1000;
    const exp = typeof body.exp === 'number' ? body.exp * 1000 : undefined;
    if (!body.active || (exp !== undefined && exp <= Date.now())) {
      return { verdict: { active: false }, ttlMs: cacheMs };
    }
    const subject = [body.sub, body.username, body.client_id].find((x) => typeof x === 'string' && x) as
      | string
      | undefined;
    const ttlMs = exp !== undefined ? Math.min(cacheMs, exp - Date.now()) : cacheMs;
    const scopes = typeof body.scope === 'string' ? body.scope.split(/\s+/).filter(Boolean) : [];
    const username = typeof body.username === 'string' && body.username ? body.username : undefined;
    return {
      verdict: {
        active: true,
        subject: subject ?? 'introspected',
        scopes,
        ...(username ? { username } : {}),
      },
      ttlMs,
    };
  }

  return {
    async verify(token) {
      const key = cacheKey(token);
      let verdict: Verdict | undefined;
      if (cfg.cacheSeconds > 0) {
        const cached = await kv().get(key);
        if (cached) verdict = JSON.parse(cached) as Verdict;
      }
      if (!verdict) {
        const answer = await ask(token);
        verdict = answer.verdict;
        if (answer.ttlMs > 0) await kv().set(key, JSON.stringify(verdict), answer.ttlMs);
      }
      if (!verdict.active) throw new AppError('INVALID_TOKEN');
      return {
        subject: verdict.subject ?? 'introspected',
        scopes: verdict.scopes ?? [],
        ...(verdict.username ? { username: verdict.username } : {}),
      };
    },
  };
}
