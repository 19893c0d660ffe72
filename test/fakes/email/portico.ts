/**
 * A fake Genesys Cloud for Portico email: the login (`POST /oauth/token`, client credentials with
 * HTTP Basic) and the API (`POST /api/v2/conversations/emails/agentless`, bearer token). Tokens can
 * be revoked to see that the provider fetches a fresh one.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { type RecordedRequest, startFakeServer } from '../../../src/plugins/testing.js';
import type { AcceptedEmail, EmailFake } from './types.js';

export interface PorticoFake extends EmailFake {
  /** How many tokens were issued. */
  tokensIssued(): number;
  /** Makes every issued token invalid (the next API call answers 401). */
  revokeTokens(): void;
}

export async function startPorticoFake(clientId: string, clientSecret: string): Promise<PorticoFake> {
  const accepted: AcceptedEmail[] = [];
  const tokens = new Set<string>();
  let issued = 0;
  const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
  const server = await startFakeServer((req: RecordedRequest) => {
    if (req.method === 'POST' && req.path === '/oauth/token') {
      if (req.headers.authorization !== basic) return { status: 401, body: { error: 'invalid_client' } };
      if (req.form().get('grant_type') !== 'client_credentials')
        return { status: 400, body: { error: 'unsupported_grant_type' } };
      const token = randomBytes(16).toString('hex');
      tokens.add(token);
      issued++;
      return { status: 200, body: { access_token: token, token_type: 'bearer', expires_in: 86_399 } };
    }
    if (req.method === 'POST' && req.path === '/api/v2/conversations/emails/agentless') {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!token || !tokens.has(token))
        return { status: 401, body: { message: 'Invalid login credentials.' } };
      let b: any;
      try {
        b = req.json();
      } catch {
        return { status: 400, body: { message: 'invalid JSON' } };
      }
      const to = b?.toAddresses?.[0]?.email;
      if (!to || !b.fromAddress?.email || !b.subject || !(b.textBody || b.htmlBody))
        return {
          status: 400,
          body: { message: 'toAddresses, fromAddress, subject and a body are required' },
        };
      const id = randomUUID();
      accepted.push({
        providerId: id,
        from: b.fromAddress.email,
        to,
        subject: b.subject,
        text: b.textBody,
        html: b.htmlBody,
      });
      return { status: 202, body: { id, conversationId: randomUUID(), subject: b.subject } };
    }
    return { status: 404, body: { message: 'not found' } };
  });
  return {
    server,
    url: server.url,
    accepted,
    close: () => server.close(),
    tokensIssued: () => issued,
    revokeTokens: () => tokens.clear(),
  };
}
