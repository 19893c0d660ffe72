/**
 * A fake Kaleyra (mGage) account: `POST /sms` with HTTP Basic username:password and the send
 * fields (`to`, `sender`, `body`) answers Kaleyra.io's shape with a message id; it calls the
 * gateway's callback URL with a callback profile's JSON (HTTP Basic with the same credentials).
 */
import { RecordingServer, type Recorded } from './server.js';

export class FakeKaleyra {
  readonly server: RecordingServer;
  private n = 0;

  constructor(
    readonly username: string,
    readonly password: string,
  ) {
    this.server = new RecordingServer((r) => {
      const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
      if (r.path !== '/sms') return { status: 404 };
      if (r.headers.authorization !== basic) return { status: 401, body: { error: 'unauthorized' } };
      for (const f of ['to', 'sender', 'body'])
        if (!r.form[f]) return { status: 400, body: { error: { [f]: 'required' } } };
      const id = `kal-${++this.n}`;
      return {
        status: 200,
        body: { id: `batch-${this.n}`, data: [{ message_id: id, recipient: r.form.to }], totalCount: 1 },
      };
    });
  }

  start() {
    return this.server.start().then(() => this);
  }

  accepted(): Recorded[] {
    return this.server.requests.filter((r) => r.path === '/sms' && r.status === 200);
  }

  async callback(
    gateway: string,
    ccid: string,
    body: Record<string, string>,
    creds: { username: string; password: string } = this,
  ): Promise<{ status: number; body: any }> {
    const res = await fetch(`${gateway}/nexus/v3/sms/kaleyra/${ccid}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`,
      },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  close() {
    return this.server.close();
  }
}
