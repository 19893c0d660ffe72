/**
 * A fake third-party messaging gateway (the Async provider): it receives the gateway's webhooks,
 * checks their `X-Hub-Signature` with the webhook secret (401 when it does not verify) and answers
 * `{ messageId }`; and it calls the gateway's third-party messaging API signed with the API secret.
 */
import { createHmac } from 'node:crypto';
import { RecordingServer, type Recorded } from './server.js';

export const sign = (secret: string, body: string | Buffer) =>
  `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`;

export class FakeAsync {
  readonly server: RecordingServer;
  private n = 0;

  constructor(
    readonly webhookSecret: string,
    readonly apiSecret: string,
  ) {
    this.server = new RecordingServer((r) => {
      if (r.headers['x-hub-signature'] !== sign(this.webhookSecret, r.raw))
        return { status: 401, body: { error: 'bad signature' } };
      return { status: 200, body: { messageId: `async-${++this.n}` } };
    });
  }

  start() {
    return this.server.start().then(() => this);
  }

  /** The webhooks it accepted (one outgoing SMS each). */
  accepted(): Recorded[] {
    return this.server.requests.filter((r) => r.status === 200);
  }

  /** The provider id it gave the webhook `r`. */
  static idOf(r: Recorded, index: number): string {
    return `async-${index}`;
  }

  /** POSTs to the gateway's third-party messaging API, signed with `secret` (default the API secret). */
  async call(
    gateway: string,
    ccid: string,
    channelId: string,
    kind: 'messages' | 'receipts',
    body: unknown,
    opts: { secret?: string; ccidHeader?: string } = {},
  ): Promise<{ status: number; body: any }> {
    const raw = JSON.stringify(body);
    const res = await fetch(`${gateway}/nexus/v3/channels/${encodeURIComponent(channelId)}/${kind}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-ccid': opts.ccidHeader ?? ccid,
        'x-hub-signature': sign(opts.secret ?? this.apiSecret, raw),
        'x-b3-traceid': 'a'.repeat(32),
      },
      body: raw,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  close() {
    return this.server.close();
  }
}
