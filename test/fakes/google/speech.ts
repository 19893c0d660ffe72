/**
 * A Speech-to-Text v1 fake: `google.cloud.speech.v1.Speech/Recognize` and `/StreamingRecognize`
 * served over gRPC from `@google-cloud/speech`'s own protos. It checks the API key the client sends
 * (`x-goog-api-key` metadata) and the recognition config, and records every request.
 *
 * Its "recognition" reads the audio bytes as UTF-8 text, so a test says what was spoken by what it
 * sends. Streaming answers an interim result after each audio chunk (when `interimResults` is set)
 * and one final result when the client half-closes. Audio whose text is `silence` recognises
 * nothing (no results), as Google answers for audio without speech; zero bytes are silence, so a
 * long message of a few words is the words and zeros. Containers are read as such (Ogg pages,
 * WebM blocks, AMR frames, FLAC frames after its metadata: their payload is the "speech"), so a test sends
 * real files; bytes that do not start as their container does are heard as they are.
 *
 * It keeps Google's limits where it can tell how long the audio plays (raw PCM and µ-law by the
 * sample rate, Ogg Opus by its granule positions, WebM by its block timecodes, AMR by its frames,
 * FLAC by STREAMINFO in one call): a minute per Recognize ("Sync input too long"), 25 KB per stream request, about
 * five minutes per stream (of audio, and of time open), and audio at about real time: a stream
 * that runs ahead of its open time by more than the configured bound is stopped with OUT_OF_RANGE
 * "Audio data is being streamed too fast", as Google stops one (`SpeechFakeOptions`). A FLAC
 * stream's pace is not checked (its frames' positions are not read).
 */
import * as grpc from '@grpc/grpc-js';
import { type GrpcFake, loadService, startGrpcServer } from './grpc.js';

export interface SpeechFake extends GrpcFake {
  /** Recognize requests and, for streams, the list of messages of each stream. */
  readonly recognizeRequests: any[];
  readonly streams: any[][];
  /** For each stream, when each audio request arrived and how much audio had arrived by then. */
  readonly arrivals: Arrival[][];
  /**
   * Resolves once stream number `stream` (its index in `streams`) has received `count` audio
   * requests, or has ended either way (a test's virtual clock moves on only after what was sent
   * has arrived).
   */
  whenArrived(stream: number, count: number): Promise<void>;
  /** The API key each call carried (undefined when none). */
  readonly apiKeys: Array<string | undefined>;
  /** Answers every call with this gRPC failure until `recover()`. */
  failAll(code: grpc.status, details: string): void;
  recover(): void;
}

export interface Arrival {
  /** Since the stream opened, on the fake's clock. */
  atMs: number;
  /** Audio received so far, as the fake reads its length (0 where it cannot yet). */
  audioMs: number;
}

function checkConfig(config: any): string | undefined {
  if (!config) return 'config is required';
  if (!config.languageCode) return 'config.language_code is required';
  if (config.encoding === 'LINEAR16' && !config.sampleRateHertz)
    return 'sample_rate_hertz is required for LINEAR16';
  return undefined;
}

/**
 * What the fake hears of the audio a config describes, fed in pieces as a stream brings them: the
 * "speech" (the payload bytes, read as text) and how many seconds have arrived, where the audio
 * says (raw PCM and µ-law from the sample rate; Ogg Opus from its pages' granule positions; WebM
 * from its blocks' timecodes; FLAC from STREAMINFO once complete). A container is parsed as far as
 * its bytes are complete, the rest waits for the next piece.
 */
interface Heard {
  push(chunk: Buffer): void;
  readonly speech: Buffer[];
  seconds(): number | undefined;
}

function hearing(config: any, streaming = false): Heard {
  const speech: Buffer[] = [];
  const rate = config?.sampleRateHertz;
  switch (config?.encoding) {
    case 'LINEAR16':
    case 'MULAW': {
      const width = config.encoding === 'LINEAR16' ? 2 : 1;
      let bytes = 0;
      return {
        speech,
        push: (c) => {
          bytes += c.length;
          speech.push(c);
        },
        seconds: () => (rate ? bytes / (width * rate) : undefined),
      };
    }
    case 'OGG_OPUS':
      return sniffed(speech, 'OggS', oggHearing);
    case 'WEBM_OPUS':
      return sniffed(speech, '\x1a\x45\xdf\xa3', webmHearing);
    case 'FLAC':
      return sniffed(speech, 'fLaC', (sp) => flacHearing(sp, streaming));
    case 'AMR':
    case 'AMR_WB':
      return sniffed(speech, '#!AMR', (sp) => amrHearing(sp, config.encoding === 'AMR_WB'));
    default:
      return opaque(speech);
  }
}

/** Bytes whose length the fake does not read: all speech. */
function opaque(speech: Buffer[]): Heard {
  return { speech, push: (c) => speech.push(c), seconds: () => undefined };
}

/**
 * The container's hearing when the audio starts with its magic; bytes that do not (a few words a
 * test sends as "OGG_OPUS" for short) are heard as they are, with no length, as before.
 */
function sniffed(speech: Buffer[], magic: string, container: (speech: Buffer[]) => Heard): Heard {
  let chosen: Heard | undefined;
  return {
    speech,
    push(c) {
      chosen ??= c.toString('latin1', 0, magic.length) === magic ? container(speech) : opaque(speech);
      chosen.push(c);
    },
    seconds: () => chosen?.seconds(),
  };
}

/** Ogg pages; the Opus packets after OpusHead and OpusTags are the speech. */
function oggHearing(speech: Buffer[]): Heard {
  let pending = Buffer.alloc(0);
  let preSkip = 0;
  let granule: bigint | undefined;
  return {
    speech,
    push(chunk) {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (pending.length < 27) return;
        if (pending.toString('latin1', 0, 4) !== 'OggS') throw new Error('not an Ogg stream');
        const n = pending[26];
        if (pending.length < 27 + n) return;
        const size = [...pending.subarray(27, 27 + n)].reduce((a, b) => a + b, 0);
        if (pending.length < 27 + n + size) return;
        const body = pending.subarray(27 + n, 27 + n + size);
        const g = pending.readBigInt64LE(6);
        if (body.toString('latin1', 0, 8) === 'OpusHead') preSkip = body.readUInt16LE(10);
        else if (body.toString('latin1', 0, 8) !== 'OpusTags') {
          speech.push(Buffer.from(body));
          if (g >= 0n) granule = g;
        }
        pending = pending.subarray(27 + n + size);
      }
    },
    seconds: () => (granule === undefined ? 0 : Math.max(0, Number(granule) - preSkip) / 48_000),
  };
}

/** EBML: masters (Segment, Cluster, BlockGroup) opened, blocks' frames are the speech. */
function webmHearing(speech: Buffer[]): Heard {
  const MASTERS = new Set([0x18538067, 0x1f43b675, 0xa0, 0x1549a966]);
  let pending = Buffer.alloc(0);
  let cluster = 0;
  let last = 0;
  let step = 0;
  const readVint = (b: Buffer, at: number, mask: boolean) => {
    if (at >= b.length) return undefined;
    let len = 1;
    while (len <= 8 && !(b[at] & (0x80 >> (len - 1)))) len++;
    if (len > 8 || at + len > b.length) return undefined;
    let v = mask ? b[at] & (0xff >> len) : b[at];
    for (let i = 1; i < len; i++) v = v * 256 + b[at + i];
    const unknown = mask && v === 2 ** (7 * len) - 1;
    return { v, len, unknown };
  };
  return {
    speech,
    push(chunk) {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const id = readVint(pending, 0, false);
        const size = id && readVint(pending, id.len, true);
        if (!id || !size) return;
        const at = id.len + size.len;
        if (MASTERS.has(id.v) || size.unknown) {
          pending = pending.subarray(at);
          continue;
        }
        if (pending.length < at + size.v) return;
        const data = pending.subarray(at, at + size.v);
        if (id.v === 0xe7) cluster = data.readUIntBE(0, data.length);
        if (id.v === 0xa3 || id.v === 0xa1) {
          const track = readVint(data, 0, true)!;
          const t = cluster + data.readInt16BE(track.len);
          step = t - last;
          last = t;
          speech.push(Buffer.from(data.subarray(track.len + 3)));
        }
        pending = pending.subarray(at + size.v);
      }
    },
    // Timecodes in ms (the default TimecodeScale); the last block lasts as long as the one before.
    seconds: () => (speech.length ? (last + step) / 1000 : 0),
  };
}

/** FLAC: the metadata blocks, then frames (the speech); the length is STREAMINFO's. */
function flacHearing(speech: Buffer[], streaming: boolean): Heard {
  let head = Buffer.alloc(0);
  let total: number | undefined;
  let inFrames = false;
  return {
    speech,
    push(chunk) {
      if (inFrames) return void speech.push(chunk);
      head = Buffer.concat([head, chunk]);
      let at = 4;
      for (;;) {
        if (head.length < at + 4) return;
        const len = head.readUIntBE(at + 1, 3);
        if (head.length < at + 4 + len) return;
        if ((head[at] & 0x7f) === 0) {
          const rate = (head[at + 14] << 12) | (head[at + 15] << 4) | (head[at + 16] >> 4);
          const samples = (head[at + 17] & 0x0f) * 2 ** 32 + head.readUInt32BE(at + 18);
          total = rate && samples ? samples / rate : undefined;
        }
        const lastBlock = head[at] & 0x80;
        at += 4 + len;
        if (lastBlock) break;
      }
      inFrames = true;
      speech.push(head.subarray(at));
    },
    // How far into a FLAC stream the frames are is not read here: a stream's pace and length go
    // unchecked, a whole file's length is STREAMINFO's.
    seconds: () => (streaming ? undefined : total),
  };
}

/** AMR storage format: the magic, then frames of 20 ms, a header byte (its frame type) and the speech. */
function amrHearing(speech: Buffer[], wb: boolean): Heard {
  // Speech bits of each frame type (RFC 4867 §5.3, 3GPP TS 26.101 / 26.201), in whole bytes.
  const sizes = wb
    ? [17, 23, 32, 36, 40, 46, 50, 58, 60, 5, 0, 0, 0, 0, 0, 0]
    : [12, 13, 15, 17, 19, 20, 26, 31, 5, 6, 5, 5, 0, 0, 0, 0];
  const magic = wb ? 9 : 6;
  let pending = Buffer.alloc(0);
  let started = false;
  let frames = 0;
  return {
    speech,
    push(chunk) {
      pending = Buffer.concat([pending, chunk]);
      if (!started) {
        if (pending.length < magic) return;
        pending = pending.subarray(magic);
        started = true;
      }
      while (pending.length) {
        const size = sizes[(pending[0] >> 3) & 0x0f];
        if (pending.length < 1 + size) return;
        speech.push(Buffer.from(pending.subarray(1, 1 + size)));
        frames++;
        pending = pending.subarray(1 + size);
      }
    },
    seconds: () => frames * 0.02,
  };
}

/** Google's limits: a minute of audio in one Recognize, 25 KB per stream request, ~5 minutes a stream. */
const SYNC_SECONDS = 60;
const STREAM_REQUEST_BYTES = 25 * 1024;
const STREAM_SECONDS = 305;

function recognise(audio: Buffer): any[] {
  // Zero bytes are digital silence (how a test makes a long message of a few words).
  const text = Buffer.from(audio.filter((b) => b !== 0)).toString('utf8');
  if (!text || text === 'silence') return [];
  return [{ alternatives: [{ transcript: text, confidence: 0.92 }], languageCode: 'en-us' }];
}

export interface SpeechFakeOptions {
  /**
   * The fake's clock in ms (default the process's): a test's virtual clock, shared with the
   * client's pacing, measures a stream's pace without waiting for it.
   */
  now?: () => number;
  /**
   * How far ahead of real time a stream may run before it is refused as "streamed too fast":
   * at most `headStartSeconds` + `realtimeFactor` × the seconds it has been open. Google asks for
   * audio "at a rate that approximates real time" and publishes no number: 3× after 5 s is this
   * fake's reading of it. An end-to-end test may loosen it to stream a long message quickly.
   */
  realtimeFactor?: number;
  headStartSeconds?: number;
}

export async function startSpeechFake(apiKey: string, opts: SpeechFakeOptions = {}): Promise<SpeechFake> {
  const now = opts.now ?? (() => performance.now());
  const factor = opts.realtimeFactor ?? 3;
  const headStart = opts.headStartSeconds ?? 5;
  const service = loadService(
    '@google-cloud/speech',
    'google/cloud/speech/v1/cloud_speech.proto',
    'google.cloud.speech.v1.Speech',
  );
  const recognizeRequests: any[] = [];
  const streams: any[][] = [];
  const arrivals: Arrival[][] = [];
  let waiters: Array<() => boolean> = [];
  const ended = new Set<number>();
  const wake = () => {
    waiters = waiters.filter((ready) => !ready());
  };
  const apiKeys: Array<string | undefined> = [];
  let failing: { code: grpc.status; details: string } | undefined;

  /** The key check Google does before anything else. */
  const refuse = (md: grpc.Metadata): { code: grpc.status; details: string } | undefined => {
    const key = md.get('x-goog-api-key')[0]?.toString();
    apiKeys.push(key);
    if (failing) return failing;
    if (!key)
      return { code: grpc.status.PERMISSION_DENIED, details: 'The request is missing a valid API key.' };
    if (key !== apiKey)
      return {
        code: grpc.status.INVALID_ARGUMENT,
        details: 'API key not valid. Please pass a valid API key.',
      };
    return undefined;
  };

  const server = await startGrpcServer(service, {
    Recognize(call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) {
      recognizeRequests.push(call.request);
      const denied = refuse(call.metadata);
      if (denied) return cb(denied);
      const bad = checkConfig(call.request.config);
      if (bad) return cb({ code: grpc.status.INVALID_ARGUMENT, details: bad });
      if (call.request.audio?.audioSource !== 'content')
        return cb({ code: grpc.status.INVALID_ARGUMENT, details: 'audio.content is required' });
      const heard = hearing(call.request.config);
      heard.push(Buffer.from(call.request.audio.content));
      if ((heard.seconds() ?? 0) > SYNC_SECONDS)
        return cb({
          code: grpc.status.INVALID_ARGUMENT,
          details:
            "Sync input too long. For audio longer than 1 min use LongRunningRecognize with a 'uri' parameter.",
        });
      cb(null, {
        results: recognise(Buffer.concat(heard.speech)),
        totalBilledTime: { seconds: '1' },
      });
    },
    StreamingRecognize(call: grpc.ServerDuplexStream<any, any>) {
      const opened = now();
      const messages: any[] = [];
      const times: Arrival[] = [];
      streams.push(messages);
      const index = arrivals.push(times) - 1;
      const done = () => {
        ended.add(index);
        wake();
      };
      call.on('close', done);
      call.on('error', done);
      const denied = refuse(call.metadata);
      if (denied) {
        call.emit('error', denied);
        return;
      }
      let config: any;
      let heard: Heard | undefined;
      let failed = false;
      const fail = (code: grpc.status, details: string) => {
        failed = true;
        done();
        call.emit('error', { code, details });
      };
      call.on('data', (msg: any) => {
        messages.push(msg);
        if (failed) return;
        if (!config) {
          const bad =
            msg.streamingRequest !== 'streamingConfig'
              ? 'the first message must carry streaming_config'
              : checkConfig(msg.streamingConfig?.config);
          if (bad) return fail(grpc.status.INVALID_ARGUMENT, bad);
          config = msg.streamingConfig;
          heard = hearing(config.config, true);
          return;
        }
        if (msg.streamingRequest !== 'audioContent')
          return fail(grpc.status.INVALID_ARGUMENT, 'streaming_config may only be sent first');
        const chunk = Buffer.from(msg.audioContent);
        if (chunk.length > STREAM_REQUEST_BYTES)
          return fail(grpc.status.INVALID_ARGUMENT, 'Request audio can be a maximum of 25 KB.');
        try {
          heard!.push(chunk);
        } catch {
          return fail(grpc.status.INVALID_ARGUMENT, 'The audio could not be decoded.');
        }
        const open = (now() - opened) / 1000;
        const audio = heard!.seconds() ?? 0;
        times.push({ atMs: open * 1000, audioMs: audio * 1000 });
        wake();
        if (audio > STREAM_SECONDS || open > STREAM_SECONDS)
          return fail(
            grpc.status.OUT_OF_RANGE,
            `Exceeded maximum allowed stream duration of ${STREAM_SECONDS} seconds.`,
          );
        if (audio > headStart + factor * open)
          return fail(
            grpc.status.OUT_OF_RANGE,
            'Audio data is being streamed too fast. Please stream audio data approximately at real time.',
          );
        if (config.interimResults) {
          const soFar = recognise(Buffer.concat(heard!.speech));
          if (soFar.length)
            call.write({ results: soFar.map((r) => ({ ...r, isFinal: false, stability: 0.5 })) });
        }
      });
      call.on('end', () => {
        if (failed) return;
        const results = recognise(Buffer.concat(heard?.speech ?? []));
        call.write({
          results: results.map((r) => ({ ...r, isFinal: true })),
          ...(config?.singleUtterance ? { speechEventType: 'END_OF_SINGLE_UTTERANCE' } : {}),
        });
        call.end();
        done();
      });
    },
  });
  return {
    ...server,
    recognizeRequests,
    streams,
    arrivals,
    whenArrived: (stream, count) =>
      new Promise<void>((resolve) => {
        const ready = () => {
          const ok = ended.has(stream) || (arrivals[stream]?.length ?? 0) >= count;
          if (ok) resolve();
          return ok;
        };
        if (!ready()) waiters.push(ready);
      }),
    apiKeys,
    failAll(code, details) {
      failing = { code, details };
    },
    recover() {
      failing = undefined;
    },
  };
}

// ---- audio files a test sends ------------------------------------------------------------------
// Laid out as their specs say (Ogg pages with their CRC, EBML, FLAC's STREAMINFO, MP3 frames), the
// words in the first packet and silence (zero bytes) after, so both athena's length readers and
// this fake's hearing read them.--

const CRC_TABLE = Array.from({ length: 256 }, (_, i) => {
  let r = i << 24;
  for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
  return r >>> 0;
});

function oggPage(body: Buffer, o: { granule: bigint; serial: number; seq: number; flags: number }): Buffer {
  const lacing: number[] = [];
  for (let left = body.length; ; left -= 255) {
    lacing.push(Math.min(left, 255));
    if (left < 255) break;
  }
  const h = Buffer.alloc(27 + lacing.length);
  h.write('OggS', 0, 'latin1');
  h[5] = o.flags;
  h.writeBigInt64LE(o.granule, 6);
  h.writeUInt32LE(o.serial, 14);
  h.writeUInt32LE(o.seq, 18);
  h[26] = lacing.length;
  Buffer.from(lacing).copy(h, 27);
  const page = Buffer.concat([h, body]);
  let crc = 0;
  for (const b of page) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]) >>> 0;
  page.writeUInt32LE(crc, 22);
  return page;
}

/** An Ogg Opus file: OpusHead, OpusTags, then one 500 ms packet a page (the words in the first). */
export function oggOpus(words: string, seconds: number, preSkip = 312): Buffer {
  const serial = 0x5eed;
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head[8] = 1;
  head[9] = 1;
  head.writeUInt16LE(preSkip, 10);
  head.writeUInt32LE(16_000, 12);
  const tags = Buffer.concat([
    Buffer.from('OpusTags'),
    Buffer.from([4, 0, 0, 0]),
    Buffer.from('test'),
    Buffer.alloc(4),
  ]);
  const pages = [
    oggPage(head, { granule: 0n, serial, seq: 0, flags: 0x02 }),
    oggPage(tags, { granule: 0n, serial, seq: 1, flags: 0 }),
  ];
  const packets = Math.round(seconds * 2);
  for (let i = 0; i < packets; i++) {
    const body = Buffer.alloc(1000);
    if (i === 0) body.write(words);
    pages.push(
      oggPage(body, {
        granule: BigInt(preSkip + (i + 1) * 24_000),
        serial,
        seq: i + 2,
        flags: i === packets - 1 ? 0x04 : 0,
      }),
    );
  }
  return Buffer.concat(pages);
}

function ebml(id: number, data: Buffer): Buffer {
  const idBytes = Buffer.from(
    id.toString(16).padStart(id > 0xffffff ? 8 : id > 0xffff ? 6 : id > 0xff ? 4 : 2, '0'),
    'hex',
  );
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(data.length) | (1n << 56n));
  return Buffer.concat([idBytes, size, data]);
}
const UNKNOWN_SIZE = Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const uintBytes = (n: number) => Buffer.from([n >> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);

/**
 * WebM Opus as MediaRecorder writes it: a Segment and Clusters of unknown size, no Duration, one
 * 100 ms SimpleBlock after another (the words in the first), a Cluster every 5 s.
 */
export function webmOpus(words: string, seconds: number, declaredMs?: number): Buffer {
  const info = [ebml(0x2ad7b1, uintBytes(1_000_000))];
  if (declaredMs !== undefined) {
    const d = Buffer.alloc(8);
    d.writeDoubleBE(declaredMs);
    info.push(ebml(0x4489, d));
  }
  const parts = [
    ebml(0x1a45dfa3, ebml(0x4282, Buffer.from('webm'))),
    Buffer.from([0x18, 0x53, 0x80, 0x67]),
    UNKNOWN_SIZE,
    ebml(0x1549a966, Buffer.concat(info)),
    ebml(
      0x1654ae6b,
      ebml(0xae, Buffer.concat([ebml(0xd7, Buffer.from([1])), ebml(0x86, Buffer.from('A_OPUS'))])),
    ),
  ];
  const blocks = Math.round(seconds * 10);
  for (let i = 0; i < blocks; i++) {
    const t = i * 100;
    if (t % 5000 === 0)
      parts.push(Buffer.from([0x1f, 0x43, 0xb6, 0x75]), UNKNOWN_SIZE, ebml(0xe7, uintBytes(t)));
    const frame = Buffer.alloc(200);
    if (i === 0) frame.write(words);
    const head = Buffer.alloc(4);
    head[0] = 0x81;
    head.writeInt16BE(t % 5000, 1);
    head[3] = 0x80;
    parts.push(ebml(0xa3, Buffer.concat([head, frame])));
  }
  return Buffer.concat(parts);
}

/** FLAC: STREAMINFO (16 kHz mono 16-bit, `samples` in all, 0 when unknown), then the frames. */
export function flac(words: string, seconds: number, samples = seconds * 16_000): Buffer {
  const info = Buffer.alloc(34);
  info.writeUInt16BE(4096, 0);
  info.writeUInt16BE(4096, 2);
  // 20 bits of rate, 3 of channels - 1, 5 of bits per sample - 1, 36 of samples.
  const rate = 16_000;
  info[10] = rate >> 12;
  info[11] = (rate >> 4) & 0xff;
  info[12] = ((rate & 0x0f) << 4) | (0 << 1) | (15 >> 4);
  info[13] = ((15 & 0x0f) << 4) | Math.floor(samples / 2 ** 32);
  info.writeUInt32BE(samples % 2 ** 32, 14);
  const frames = Buffer.alloc(seconds * 2000);
  frames.write(words);
  return Buffer.concat([Buffer.from('fLaC'), Buffer.from([0x80, 0, 0, 34]), info, frames]);
}

/** Constant-bitrate MP3: MPEG-1 Layer III, 32 kbit/s, 32 kHz, mono frames of 144 bytes. */
export function mp3(words: string, seconds: number): Buffer {
  const frames = Math.round((seconds * 32_000) / 1152);
  const frame = Buffer.alloc(144);
  frame.set([0xff, 0xfb, (1 << 4) | (2 << 2), 0xc4]);
  const out = Buffer.concat(Array.from({ length: frames }, () => frame));
  out.write(words, 40);
  return out;
}

/** AMR (12.2 kbit/s frames) or AMR-WB (23.85 kbit/s), 50 frames a second, the words in the first. */
export function amr(words: string, seconds: number, wb = false): Buffer {
  const [type, size] = wb ? [8, 60] : [7, 31];
  const frame = Buffer.alloc(1 + size);
  frame[0] = (type << 3) | 0x04;
  const first = Buffer.from(frame);
  first.write(words, 1);
  const frames = Array.from({ length: seconds * 50 }, (_, i) => (i === 0 ? first : frame));
  return Buffer.concat([Buffer.from(wb ? '#!AMR-WB\n' : '#!AMR\n', 'latin1'), ...frames]);
}
