/**
 * A fake Twilio: the Messages API (`POST /2010-04-01/Accounts/{sid}/Messages.json`, HTTP Basic
 * sid:token, form `To`/`From`/`Body`) answering 201 with a message `sid`, and webhooks to the
 * gateway signed with `X-Twilio-Signature` computed by Twilio's own `twilio` package.
 */
import twilio from 'twilio';
import { RecordingServer, type Recorded } from './server.js';

export class FakeTwilio {
  readonly server: RecordingServer;
  private n = 0;

  constructor(
    readonly accountSid: string,
    readonly authToken: string,
  ) {
    this.server = new RecordingServer((r) => {
      if (r.path !== `/2010-04-01/Accounts/${accountSid}/Messages.json`)
        return { status: 404, body: { code: 20404 } };
      const basic = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
      if (r.headers.authorization !== basic)
        return { status: 401, body: { code: 20003, message: 'Authenticate' } };
      if (!r.form.To || !r.form.From || !r.form.Body)
        return { status: 400, body: { code: 21602, message: 'Message body is required.' } };
      const sid = `SM${String(++this.n).padStart(32, '0')}`;
      return {
        status: 201,
        body: { sid, status: 'queued', to: r.form.To, from: r.form.From, body: r.form.Body },
      };
    });
  }

  start() {
    return this.server.start().then(() => this);
  }

  accepted(): Recorded[] {
    return this.server.requests.filter((r) => r.status === 201);
  }

  /** POSTs a webhook to `url`, signed as Twilio signs (with `token`, default the account's). */
  async webhook(
    url: string,
    params: Record<string, string>,
    token = this.authToken,
  ): Promise<{ status: number; body: string }> {
    const signature = twilio.getExpectedTwilioSignature(token, url, params);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body: new URLSearchParams(params).toString(),
    });
    return { status: res.status, body: await res.text() };
  }

  close() {
    return this.server.close();
  }
}
