/**
 * A chat customer's voice message upload (`POST {selfUri}/media`): the raw audio with the
 * session's client token, stored in the gateway's media table and served by the media route that
 * agents and athena read. Every refusal has its catalog code and stores nothing. Both engines.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { newSession, type TestSession } from './helpers.js';

const LIMIT = 4096;
const BURST = 4;

describe.each(engines())('chat media upload on %s engines', (engine) => {
  let t: TestNexus;
  let tenant: TestTenant;
  let other: TestTenant;
  beforeAll(async () => {
    t = await startNexus({
      engine,
      nexus: { chat: { maxMediaBytes: LIMIT, socketMessageBurst: BURST, socketMessagesPerSecond: 0.1 } },
    });
    tenant = await createTenant(t);
    other = await createTenant(t);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const upload = async (
    s: Pick<TestSession, 'selfUri' | 'clientToken'>,
    body: Buffer,
    opts: { type?: string; token?: string | null; path?: string; query?: string } = {},
  ) => {
    const headers: Record<string, string> = {};
    if (opts.type !== '') headers['content-type'] = opts.type ?? 'audio/webm;codecs=opus';
    if (opts.token !== null) headers['x-nexus-client-key'] = opts.token ?? s.clientToken;
    const res = await fetch(`${t.url}${opts.path ?? `${s.selfUri}/media`}${opts.query ?? ''}`, {
      method: 'POST',
      headers,
      body: new Uint8Array(body),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as any };
  };

  const storedFor = async (sessionId: string) =>
    (
      await t.nexus.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM sms_media WHERE channel_id = $1',
        [`chat:${sessionId}`],
      )
    ).rows[0].n;

  it('stores the recording and answers the media route, which serves the same bytes to the tenant only', async () => {
    const s = await newSession(t, tenant);
    const audio = Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3]), randomBytes(3000)]);
    const r = await upload(s, audio, { query: '?name=../../etc/my%20note.webm' });
    expect(r.status).toBe(200);
    const { mediaId, url, mediaType, name, length } = r.body.data;
    expect(mediaId).toMatch(/^[0-9a-f-]{36}$/);
    expect(url).toBe(`/nexus/v3/sms/${tenant.ccid}/media/${mediaId}`);
    expect(mediaType).toBe('audio/webm;codecs=opus');
    expect(name).toBe('my note.webm');
    expect(length).toBe(audio.length);

    const got = await fetch(t.url + url, { headers: { 'x-api-key': tenant.apiKey } });
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('audio/webm');
    expect(Buffer.from(await got.arrayBuffer()).equals(audio)).toBe(true);

    // Another tenant reads it neither on the owner's path nor on its own.
    const foreign = await fetch(t.url + url, { headers: { 'x-api-key': other.apiKey } });
    expect(foreign.status).toBe(403);
    const ownPath = await fetch(`${t.url}/nexus/v3/sms/${other.ccid}/media/${mediaId}`, {
      headers: { 'x-api-key': other.apiKey },
    });
    expect(ownPath.status).toBe(404);
    // The customer's client token is no credential for the media route.
    const asCustomer = await fetch(t.url + url, { headers: { 'x-nexus-client-key': s.clientToken } });
    expect(asCustomer.status).toBe(401);
  });

  it('takes each audio type a browser or phone records, with a default name', async () => {
    const s = await newSession(t, tenant);
    for (const [type, stored, ext] of [
      ['audio/ogg; codecs=opus', 'audio/ogg;codecs=opus', 'ogg'],
      ['audio/wav', 'audio/wav', 'wav'],
      ['AUDIO/MPEG', 'audio/mpeg', 'mp3'],
      ['audio/mp4', 'audio/mp4', 'm4a'],
    ]) {
      const r = await upload(s, randomBytes(100), { type });
      expect(r.status, type).toBe(200);
      expect(r.body.data.mediaType).toBe(stored);
      expect(r.body.data.name).toBe(`voice-message.${ext}`);
    }
    expect(await storedFor(s.sessionId)).toBe(4);
  });

  it('refuses what is not audio, an empty body and a body over chat.maxMediaBytes, storing nothing', async () => {
    const s = await newSession(t, tenant);
    for (const type of [
      'text/plain',
      'application/json',
      'video/webm',
      'audio/x-unknown',
      '',
      'audio/webm;<x>',
    ]) {
      const r = await upload(s, randomBytes(50), { type });
      expect(r.status, type).toBe(415);
      expect(r.body.status.name).toBe('CHAT_MEDIA_NOT_AUDIO');
      expect(r.body.status.code).toBe(4011);
    }
    const empty = await upload(s, Buffer.alloc(0));
    expect(empty.status).toBe(400);
    expect(empty.body.status.name).toBe('CHAT_MEDIA_EMPTY');
    const big = await upload(s, randomBytes(LIMIT + 1));
    expect(big.status).toBe(413);
    expect(big.body.status.name).toBe('PAYLOAD_TOO_LARGE');
    // Exactly the limit is taken.
    expect((await upload(s, randomBytes(LIMIT))).status).toBe(200);
    expect(await storedFor(s.sessionId)).toBe(1);
  });

  it("refuses a missing or bad token, another session's or tenant's token, and an ended session", async () => {
    const s = await newSession(t, tenant);
    const mine = await newSession(t, tenant);
    const theirs = await newSession(t, other);
    const audio = randomBytes(100);
    const cases: [string, Awaited<ReturnType<typeof upload>>, number, string][] = [
      ['no token', await upload(s, audio, { token: null }), 401, 'INVALID_CLIENT_TOKEN'],
      ['a forged token', await upload(s, audio, { token: `${s.clientToken}x` }), 401, 'INVALID_CLIENT_TOKEN'],
      [
        'another session of the tenant',
        await upload(s, audio, { token: mine.clientToken }),
        403,
        'SESSION_MISMATCH',
      ],
      [
        "another tenant's session",
        await upload(s, audio, { token: theirs.clientToken }),
        403,
        'SESSION_MISMATCH',
      ],
      [
        'an unknown session',
        await upload(s, audio, { path: `/nexus/v3/chat/sessions/${crypto.randomUUID()}/media` }),
        403,
        'SESSION_MISMATCH',
      ],
    ];
    for (const [what, r, status, name] of cases) {
      expect(r.status, what).toBe(status);
      expect(r.body.status.name, what).toBe(name);
    }
    const end = await api(t.url, 'POST', `${s.selfUri}/end`, {
      headers: { 'x-nexus-client-key': s.clientToken },
    });
    expect(end.status).toBe(200);
    const ended = await upload(s, audio);
    expect(ended.status).toBe(409);
    expect(ended.body.status.name).toBe('SESSION_ENDED');
    for (const x of [s, mine, theirs]) expect(await storedFor(x.sessionId)).toBe(0);
  });

  it('shares the session message budget: past the burst it answers 429 with Retry-After and stores nothing', async () => {
    const s = await newSession(t, tenant);
    for (let i = 0; i < BURST; i++) expect((await upload(s, randomBytes(10))).status).toBe(200);
    const refused = await upload(s, randomBytes(10));
    expect(refused.status).toBe(429);
    expect(refused.body.status.name).toBe('MESSAGE_RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await storedFor(s.sessionId)).toBe(BURST);
    // Another customer's session has its own budget.
    const next = await newSession(t, tenant);
    expect((await upload(next, randomBytes(10))).status).toBe(200);
  });
});
