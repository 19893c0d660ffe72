import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audioOf, isPrivateAddress, VoiceFetcher, VoiceMessageError, voiceAttachment } from './voice.js';

function wav(samples: Buffer, o: { format?: number; channels?: number; rate?: number; bits?: number } = {}) {
  const { format = 1, channels = 1, rate = 16_000, bits = 16 } = o;
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + samples.length, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(format, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE((rate * channels * bits) / 8, 28);
  h.writeUInt16LE((channels * bits) / 8, 32);
  h.writeUInt16LE(bits, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(samples.length, 40);
  return Buffer.concat([h, samples]);
}

describe('voiceAttachment', () => {
  it("finds the audio attachment of a File message by its mediaType or its data URL's type", () => {
    expect(
      voiceAttachment({ type: 'File', content: { attachments: [{ url: '/x', mediaType: 'audio/wav' }] } }),
    ).toEqual({ url: '/x', mediaType: 'audio/wav' });
    expect(
      voiceAttachment({ type: 'File', content: { attachments: [{ url: 'data:audio/ogg;base64,AA==' }] } }),
    ).toEqual({ url: 'data:audio/ogg;base64,AA==', mediaType: 'audio/ogg' });
  });

  it('ignores other messages, other files and malformed content', () => {
    const a = [{ url: '/x', mediaType: 'audio/wav' }];
    expect(voiceAttachment({ type: 'Text', content: { attachments: a } })).toBeUndefined();
    expect(
      voiceAttachment({ type: 'File', content: { attachments: [{ url: '/x', mediaType: 'image/png' }] } }),
    ).toBeUndefined();
    for (const content of [
      undefined,
      {},
      { attachments: 'x' },
      { attachments: [null] },
      { attachments: [{ url: 3 }] },
    ])
      expect(voiceAttachment({ type: 'File', content: content as never })).toBeUndefined();
  });
});

describe('audioOf', () => {
  it('reads a 16-bit PCM WAV as its samples and rate', () => {
    const pcm = Buffer.from([1, 0, 2, 0, 3, 0]);
    expect(audioOf('audio/wav', wav(pcm, { rate: 8000 }))).toEqual({
      content: pcm,
      encoding: 'LINEAR16',
      sampleRateHertz: 8000,
    });
  });

  it('mixes stereo PCM down to mono; reads µ-law and A-law WAVs; refuses what it cannot read', () => {
    const stereo = Buffer.alloc(8);
    stereo.writeInt16LE(100, 0);
    stereo.writeInt16LE(300, 2);
    stereo.writeInt16LE(-10, 4);
    stereo.writeInt16LE(-30, 6);
    const mono = audioOf('audio/x-wav', wav(stereo, { channels: 2 }));
    expect([mono?.content.readInt16LE(0), mono?.content.readInt16LE(2)]).toEqual([200, -20]);
    expect(audioOf('audio/wave', wav(Buffer.from([9]), { format: 7, bits: 8, rate: 8000 }))?.encoding).toBe(
      'MULAW',
    );
    expect(audioOf('audio/wav', wav(Buffer.from([9]), { format: 6, bits: 8, rate: 8000 }))?.encoding).toBe(
      'ALAW',
    );
    expect(audioOf('audio/wav', wav(Buffer.from([9]), { format: 3, bits: 32 }))).toBeUndefined();
    expect(audioOf('audio/wav', Buffer.from('not a wav at all'))).toBeUndefined();
    expect(audioOf('audio/wav', wav(Buffer.from([1, 0]), { rate: 4000 }))).toBeUndefined();
  });

  it('takes the format of the media type for raw and compressed audio', () => {
    const b = Buffer.from('abcd');
    expect(audioOf('audio/L16; rate=8000; channels=1', b)).toMatchObject({
      encoding: 'LINEAR16',
      sampleRateHertz: 8000,
    });
    expect(audioOf('audio/l16', b)?.sampleRateHertz).toBe(16_000);
    expect(audioOf('audio/l16; rate=nonsense', b)).toBeUndefined();
    expect(audioOf('audio/basic', b)).toMatchObject({ encoding: 'MULAW', sampleRateHertz: 8000 });
    expect(audioOf('audio/webm;codecs=opus', b)).toMatchObject({
      encoding: 'WEBM_OPUS',
      sampleRateHertz: 48_000,
    });
    expect(audioOf('audio/mpeg', b)).toMatchObject({ encoding: 'MP3' });
    expect(audioOf('audio/amr-wb', b)).toMatchObject({ encoding: 'AMR_WB', sampleRateHertz: 16_000 });
    expect(audioOf('audio/aac', b)).toBeUndefined();
    expect(audioOf('audio/webm; codecs=vorbis', b)).toBeUndefined();
  });

  it('reads the rate an Ogg Opus stream declares, refuses Ogg Vorbis, and reads a FLAC rate', () => {
    const head = Buffer.alloc(19);
    head.write('OpusHead', 0, 'latin1');
    head.writeUInt32LE(16_000, 12);
    const ogg = Buffer.concat([Buffer.from('OggS'), Buffer.alloc(24), head]);
    expect(audioOf('audio/ogg', ogg)).toMatchObject({ encoding: 'OGG_OPUS', sampleRateHertz: 16_000 });
    expect(
      audioOf('audio/ogg', Buffer.concat([Buffer.from('OggS'), Buffer.from('\x01vorbis')])),
    ).toBeUndefined();
    const flac = Buffer.alloc(34);
    flac.write('fLaC', 0, 'latin1');
    // 44100 Hz in STREAMINFO's 20-bit field.
    flac[18] = 44_100 >> 12;
    flac[19] = (44_100 >> 4) & 0xff;
    flac[20] = (44_100 & 0xf) << 4;
    expect(audioOf('audio/flac', flac)).toMatchObject({ encoding: 'FLAC', sampleRateHertz: 44_100 });
  });
});

describe('isPrivateAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['10.1.2.3', true],
    ['172.20.0.1', true],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['::1', true],
    ['fd00::1', true],
    ['fe80::1', true],
    ['::ffff:10.0.0.1', true],
    ['not an address', true],
    ['8.8.8.8', false],
    ['2001:4860:4860::8888', false],
    ['::ffff:8.8.8.8', false],
  ])('%s → %s', (address, expected) => {
    expect(isPrivateAddress(address)).toBe(expected);
  });
});

describe('VoiceFetcher', () => {
  let server: Server;
  let base: string;
  const seen: IncomingMessage[] = [];
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('audio');

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req);
      handler(req, res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const fetcher = (o: { maxBytes?: number; allowPrivateAddresses?: boolean; timeoutMs?: number } = {}) =>
    new VoiceFetcher({ nexusUrl: base, apiKey: 'cluster-key', timeoutMs: 2000, ...o });
  const refusal = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VoiceMessageError);
    return (err as Error).message;
  };
  const id = '3f0b8c1e-7a57-4f4e-9a0e-2d3c1b4a5e6f';

  it('decodes data URLs, base64 or not, within the size limit', async () => {
    expect((await fetcher().fetch('t1', 'data:audio/l16;base64,aGVsbG8=')).toString()).toBe('hello');
    expect((await fetcher().fetch('t1', 'data:audio/l16,hi%20there')).toString()).toBe('hi there');
    expect(await refusal(fetcher({ maxBytes: 4 }).fetch('t1', 'data:audio/l16;base64,aGVsbG8='))).toMatch(
      /larger than 4 bytes/,
    );
    expect(await refusal(fetcher().fetch('t1', 'data:audio/l16;base64,'))).toMatch(/empty/);
  });

  it("fetches the tenant's own gateway files with the cluster key, and refuses another tenant's before asking", async () => {
    handler = (_req, res) => res.end('voice');
    const before = seen.length;
    expect((await fetcher().fetch('t1', `/nexus/v3/sms/t1/media/${id}`)).toString()).toBe('voice');
    expect((await fetcher().fetch('t1', `genesys://nexus/${id}`)).toString()).toBe('voice');
    expect((await fetcher().fetch('t1', `${base}/nexus/v3/sms/t1/media/${id}`)).toString()).toBe('voice');
    const asked = seen.slice(before);
    expect(asked.map((r) => r.url)).toEqual(Array(3).fill(`/nexus/v3/sms/t1/media/${id}`));
    expect(asked[0].headers).toMatchObject({ 'x-api-key': 'cluster-key', 'x-ccid': 't1' });
    for (const url of [
      `/nexus/v3/sms/t2/media/${id}`,
      `${base}/nexus/v3/sms/t2/media/${id}`,
      `/nexus/v3/interactions/${id}/messages`,
      `/nexus/v3/sms/t1/media/${id}/../../t2/media/${id}`,
      `/nexus/v3/sms/%E0%A4%A/media/${id}`,
    ])
      expect(await refusal(fetcher().fetch('t1', url))).toMatch(/not one of this tenant's files/);
    expect(seen.length).toBe(before + 3);
  });

  it('fetches a provider URL without credentials, only from public addresses unless allowed', async () => {
    handler = (_req, res) => res.end('provider audio');
    // The test server is on loopback, so its origin must not look like the gateway's.
    const provider = base.replace('127.0.0.1', 'localhost');
    const f = new VoiceFetcher({ nexusUrl: 'http://gateway.invalid', apiKey: 'k', timeoutMs: 2000 });
    expect(await refusal(f.fetch('t1', `${provider}/a.wav`))).toMatch(/localhost is not a public address/);
    expect(await refusal(f.fetch('t1', `${base}/a.wav`))).toMatch(/127.0.0.1 is not a public address/);
    expect(await refusal(f.fetch('t1', 'http://[::1]:9/a.wav'))).toMatch(/::1 is not a public address/);
    const open = new VoiceFetcher({
      nexusUrl: 'http://gateway.invalid',
      apiKey: 'k',
      timeoutMs: 2000,
      allowPrivateAddresses: true,
    });
    expect((await open.fetch('t1', `${provider}/a.wav`)).toString()).toBe('provider audio');
    expect(seen.at(-1)?.headers['x-api-key']).toBeUndefined();
    expect(await refusal(open.fetch('t1', 'ftp://example.com/a.wav'))).toMatch(/scheme ftp: is not fetched/);
    expect(await refusal(open.fetch('t1', `http://u:p@localhost/a.wav`))).toMatch(/carries credentials/);
    expect(await refusal(open.fetch('t1', 'not a url'))).toMatch(/no usable URL/);
  });

  it('refuses a failing answer, a redirect, too much audio (declared or not) and a slow server', async () => {
    const f = fetcher({ maxBytes: 8, timeoutMs: 300 });
    const url = `/nexus/v3/sms/t1/media/${id}`;
    handler = (_req, res) => {
      res.statusCode = 404;
      res.end('{}');
    };
    expect(await refusal(f.fetch('t1', url))).toMatch(/answered HTTP 404/);
    handler = (_req, res) => {
      res.writeHead(302, { location: 'http://169.254.169.254/' });
      res.end();
    };
    expect(await refusal(f.fetch('t1', url))).toMatch(/answered HTTP 302/);
    handler = (_req, res) => res.end('123456789');
    expect(await refusal(f.fetch('t1', url))).toMatch(/larger than 8 bytes/);
    handler = (_req, res) => {
      res.write('12345');
      res.end('6789');
    };
    expect(await refusal(f.fetch('t1', url))).toMatch(/larger than 8 bytes/);
    handler = (_req, res) => {
      res.write('1');
    };
    expect(await refusal(f.fetch('t1', url))).toMatch(/took over 300 ms/);
    const abort = new AbortController();
    const pending = f.fetch('t1', url, abort.signal);
    abort.abort();
    expect(await refusal(pending)).toMatch(/failed/);
  });
});
