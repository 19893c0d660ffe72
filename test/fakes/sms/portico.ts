/**
 * A fake of the SMS aggregation service and its Genesys Cloud login: `POST /oauth/token` (HTTP Basic
 * clientId:clientSecret, `grant_type=client_credentials`) issues bearer tokens that expire;
 * `POST /httpapi/receiver` takes MT messages with a valid bearer token (401 otherwise). It sends MOs
 * and delivery receipts to the gateway form-encoded with HTTP Basic ccid / API key.
 */
import { randomBytes } from 'node:crypto';
import { RecordingServer, type Recorded } from './server.js';

export class FakePortico {
  readonly server: RecordingServer;
  readonly tokens = new Map<string, number>();
  tokenRequests = 0;

  constructor(
    readonly clientId: string,
    readonly clientSecret: string,
    readonly expiresIn = 3600,
  ) {
    this.server = new RecordingServer((r) => {
      if (r.path === '/oauth/token') {
        const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
        if (r.headers.authorization !== basic || r.form.grant_type !== 'client_credentials')
          return { status: 401, body: { error: 'invalid_client' } };
        this.tokenRequests++;
        const token = randomBytes(12).toString('hex');
        this.tokens.set(token, Date.now() + this.expiresIn * 1000);
        return {
          status: 200,
          body: { access_token: token, expires_in: this.expiresIn, token_type: 'bearer' },
        };
      }
      if (r.path === '/httpapi/receiver') {
        const token = /^Bearer (.+)$/.exec(r.headers.authorization ?? '')?.[1] ?? '';
        const until = this.tokens.get(token);
        if (!until || until < Date.now()) return { status: 401, body: { error: 'invalid token' } };
        for (const f of ['phone_number', 'sender', 'message', 'message_id'])
          if (!r.form[f]) return { status: 400, body: { error: `${f} required` } };
        return { status: 200, body: { message_id: r.form.message_id } };
      }
      return { status: 404 };
    });
  }

  start() {
    return this.server.start().then(() => this);
  }

  /** The MT messages it accepted. */
  accepted(): Recorded[] {
    return this.server.requests.filter((r) => r.path === '/httpapi/receiver' && r.status === 200);
  }

  /** Revokes every token it issued (the next MT is refused until a new token is fetched). */
  revokeTokens(): void {
    this.tokens.clear();
  }

  async post(
    gateway: string,
    path: '/nexus/v3/sms/message' | '/nexus/v3/sms/receipt',
    user: string,
    password: string,
    fields: Record<string, string>,
  ): Promise<{ status: number; body: any }> {
    const res = await fetch(gateway + path, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
      },
      body: new URLSearchParams(fields).toString(),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  close() {
    return this.server.close();
  }
}
