/**
 * A SparkPost fake: `POST /api/v1/transmissions` with the raw API key in `Authorization`, inline
 * recipients and content, answered with `{ results: { total_accepted_recipients,
 * total_rejected_recipients, id } }`, or SparkPost's `{ errors: [...] }` with 401 / 422.
 */
import { randomInt } from 'node:crypto';
import { type FakeReply, type RecordedRequest, startFakeServer } from '../../../src/plugins/testing.js';
import type { AcceptedEmail, EmailFake } from './types.js';

export async function startSparkPostFake(apiKey: string): Promise<EmailFake> {
  const accepted: AcceptedEmail[] = [];
  const handle = (req: RecordedRequest): FakeReply => {
    if (req.method !== 'POST' || req.path !== '/api/v1/transmissions')
      return { status: 404, body: { errors: [{ message: 'resource not found' }] } };
    if (req.headers.authorization !== apiKey)
      return { status: 401, body: { errors: [{ message: 'Unauthorized.' }] } };
    if (!req.headers['content-type']?.startsWith('application/json'))
      return { status: 415, body: { errors: [{ message: 'Unsupported Media Type' }] } };
    let t: any;
    try {
      t = req.json();
    } catch {
      return { status: 400, body: { errors: [{ message: 'invalid JSON' }] } };
    }
    const to = t?.recipients?.[0]?.address?.email ?? t?.recipients?.[0]?.address;
    const c = t?.content ?? {};
    const from = typeof c.from === 'string' ? c.from : c.from?.email;
    if (!Array.isArray(t?.recipients) || typeof to !== 'string' || !from || !c.subject || !(c.text || c.html))
      return {
        status: 422,
        body: {
          errors: [
            {
              message: 'required field is missing',
              description: 'recipients/content incomplete',
              code: '1400',
            },
          ],
        },
      };
    const id = String(randomInt(10 ** 11, 10 ** 12));
    accepted.push({ providerId: id, from, to, subject: c.subject, text: c.text, html: c.html });
    return {
      status: 200,
      body: { results: { total_rejected_recipients: 0, total_accepted_recipients: t.recipients.length, id } },
    };
  };
  const server = await startFakeServer(handle);
  return { server, url: server.url, accepted, close: () => server.close() };
}
