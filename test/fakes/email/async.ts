/**
 * A fake third-party messaging gateway (the Async webhook): checks `X-Hub-Signature: sha1=<hex
 * HMAC-SHA1 of the raw body>` with the webhook secret, takes `{ messages: [...] }`, answers
 * `{ messageId }` (401 when the signature does not verify).
 */
import { timingSafeEqual } from 'node:crypto';
import { hubSignature, type RecordedRequest, startFakeServer } from '../../../src/plugins/testing.js';
import type { AcceptedEmail, EmailFake } from './types.js';

export async function startAsyncFake(webhookSecret: string): Promise<EmailFake> {
  const accepted: AcceptedEmail[] = [];
  let n = 0;
  const server = await startFakeServer((req: RecordedRequest) => {
    const expected = Buffer.from(hubSignature(webhookSecret, req.body));
    const given = Buffer.from(req.headers['x-hub-signature'] ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return { status: 401, body: { error: 'signature does not verify' } };
    let m: any;
    try {
      m = req.json().messages?.[0];
    } catch {
      return { status: 400, body: { error: 'invalid JSON' } };
    }
    if (!m?.channel?.to?.id || !m.channel.from?.id || m.channel.type !== 'email')
      return { status: 400, body: { error: 'not an email message' } };
    const id = `async-${++n}`;
    accepted.push({
      providerId: id,
      from: m.channel.from.id,
      to: m.channel.to.id,
      subject: m.subject,
      text: m.text,
      html: m.html,
    });
    return { status: 200, body: { messageId: id } };
  });
  return { server, url: server.url, accepted, close: () => server.close() };
}
