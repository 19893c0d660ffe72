/**
 * The `PurecloudIDP` token: an OAuth2 client-credentials token from the Genesys Cloud login URL
 * (`POST {url}/oauth/token`, HTTP Basic `clientId:clientSecret`, `grant_type=client_credentials`),
 * used by the Portico (messaging aggregation) providers. It is cached in the plugin's key-value
 * store (shared by the nodes) until a minute before it expires; a 401 from the API drops it.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { retryableStatus } from './http-client.js';
import { secret } from './sdk.js';
import { type HttpClient, PluginError, type PluginKv } from './types.js';

/** The `PurecloudIDP` service as a plugin reads it (through the host's `uses`). */
export const purecloudIdpConfig = z.object({
  url: z.string().url(),
  data: z.record(z.unknown()).default({}),
  secret: z.object({ clientId: z.string().min(1), clientSecret: secret(z.string().min(1)) }),
});
export type PurecloudIdp = z.infer<typeof purecloudIdpConfig>;

const MARGIN_MS = 60_000;

export class PurecloudTokens {
  private inflight: Promise<string> | undefined;
  private readonly key: string;

  constructor(
    private readonly idp: PurecloudIdp,
    private readonly http: HttpClient,
    private readonly kv: PluginKv,
  ) {
    // Keyed by login URL and client: a change of either is another token.
    this.key = `purecloud-token:${createHash('sha256').update(`${idp.url}\n${idp.secret.clientId}`).digest('hex').slice(0, 32)}`;
  }

  /** A valid access token (cached, or fetched once however many callers ask at the same time). */
  async token(): Promise<string> {
    const cached = await this.kv.get(this.key);
    if (cached) return cached;
    this.inflight ??= this.fetch().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Forgets the token (the API refused it). */
  async drop(): Promise<void> {
    await this.kv.delete(this.key);
  }

  private async fetch(): Promise<string> {
    const { clientId, clientSecret } = this.idp.secret;
    const res = await this.http.request(`${this.idp.url.replace(/\/+$/, '')}/oauth/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`, 'utf8').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    if (res.status !== 200) {
      throw new PluginError(`the PurecloudIDP login answered ${res.status} to the token request`, {
        retryable: retryableStatus(res.status),
        status: res.status,
      });
    }
    let body: { access_token?: unknown; expires_in?: unknown };
    try {
      body = res.json();
    } catch {
      body = {};
    }
    if (typeof body.access_token !== 'string' || !body.access_token)
      throw new PluginError('the PurecloudIDP login answered without an access_token', { retryable: true });
    const expiresMs = (typeof body.expires_in === 'number' ? body.expires_in : 3600) * 1000;
    if (expiresMs > MARGIN_MS * 2) await this.kv.set(this.key, body.access_token, expiresMs - MARGIN_MS);
    return body.access_token;
  }
}
