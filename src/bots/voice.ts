/**
 * A customer's voice message as a bot turn: the audio attachment of a `File` message, fetched
 * (size-limited, under a deadline) and described as a bot takes audio (`BotTurnInput['audio']`).
 *
 * Where the audio may come from, and why:
 * - a `data:` URL: the bytes are in the message;
 * - the gateway's media route of the message's own tenant (`/nexus/v3/sms/{ccid}/media/{id}`, or
 *   the raw `genesys://nexus/{id}` form): fetched with athena's cluster key, which could read any
 *   tenant's files, so any other tenant's path is refused here, before a request is made;
 * - any other `http(s)` URL (the customer's messaging provider): fetched without credentials, no
 *   redirects followed, and only from a public address (checked on the address actually
 *   connected to), because the URL is whatever the customer's client put in the message.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import type { ChatMessage } from '../gateway/chat/events.js';
import type { BotTurnInput } from './connectors/types.js';

export type Audio = NonNullable<BotTurnInput['audio']>;

/** Why a voice message could not become a turn; athena hands the conversation to an agent. */
export class VoiceMessageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VoiceMessageError';
  }
}

export interface VoiceAttachment {
  url: string;
  /** As the message gave it, e.g. `audio/wav` or `audio/l16; rate=16000`. */
  mediaType: string;
}

const DATA_URL = /^data:([^,]*?)(;base64)?,/i;

/** The first attachment of a `File` message when it is audio (its `mediaType`, else a data URL's). */
export function voiceAttachment(message: Pick<ChatMessage, 'type' | 'content'>): VoiceAttachment | undefined {
  if (message.type !== 'File') return undefined;
  const list = message.content?.attachments;
  const a: unknown = Array.isArray(list) ? list[0] : undefined;
  if (!a || typeof a !== 'object') return undefined;
  const { url, mediaType } = a as { url?: unknown; mediaType?: unknown };
  if (typeof url !== 'string' || !url) return undefined;
  const type =
    typeof mediaType === 'string' && mediaType.trim()
      ? mediaType.trim()
      : (DATA_URL.exec(url)?.[1]?.trim() ?? '');
  return /^audio\/[\w.+-]+/i.test(type) ? { url, mediaType: type } : undefined;
}

// ---- the audio format ---------------------------------------------------------------------------

function parseMediaType(mediaType: string): { type: string; params: Record<string, string> } {
  const [head, ...rest] = mediaType.split(';');
  const params: Record<string, string> = {};
  for (const p of rest) {
    const i = p.indexOf('=');
    if (i > 0)
      params[p.slice(0, i).trim().toLowerCase()] = p
        .slice(i + 1)
        .trim()
        .replace(/^"|"$/g, '');
  }
  return { type: head.trim().toLowerCase(), params };
}

const rateParam = (v: string | undefined): number | undefined => {
  const n = Number(v);
  return Number.isInteger(n) && n >= 8000 && n <= 48_000 ? n : undefined;
};

/** 16-bit little-endian PCM, interleaved, averaged down to one channel. */
function downmix(pcm: Buffer, channels: number): Buffer {
  const frames = Math.floor(pcm.length / (2 * channels));
  const out = Buffer.alloc(frames * 2);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += pcm.readInt16LE((f * channels + c) * 2);
    out.writeInt16LE(Math.round(sum / channels), f * 2);
  }
  return out;
}

/**
 * A RIFF/WAVE file as raw samples: every provider takes headerless PCM, and Lex takes nothing else.
 * PCM 16-bit (mixed down to mono), µ-law and A-law; anything else is not understood.
 */
function fromWav(b: Buffer): Audio | undefined {
  if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE')
    return undefined;
  let fmt: { format: number; channels: number; rate: number; bits: number } | undefined;
  let data: Buffer | undefined;
  for (let at = 12; at + 8 <= b.length; ) {
    const id = b.toString('latin1', at, at + 4);
    // Recorders that stream a WAV leave the size at 0 or 0xFFFFFFFF: take what is there.
    const declared = b.readUInt32LE(at + 4);
    const end = Math.min(b.length, at + 8 + declared);
    if (id === 'fmt ' && end - at >= 24) {
      let format = b.readUInt16LE(at + 8);
      // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format GUID.
      if (format === 0xfffe && end - at >= 8 + 40) format = b.readUInt16LE(at + 8 + 24);
      fmt = {
        format,
        channels: b.readUInt16LE(at + 10),
        rate: b.readUInt32LE(at + 12),
        bits: b.readUInt16LE(at + 22),
      };
    } else if (id === 'data') {
      data = b.subarray(at + 8, declared === 0 || declared === 0xffffffff ? b.length : end);
      break;
    }
    at = end + (declared % 2);
  }
  if (!fmt || !data || fmt.channels < 1) return undefined;
  const rate = rateParam(String(fmt.rate));
  if (!rate) return undefined;
  if (fmt.format === 1 && fmt.bits === 16)
    return {
      content: fmt.channels === 1 ? data : downmix(data, fmt.channels),
      encoding: 'LINEAR16',
      sampleRateHertz: rate,
    };
  if (fmt.channels !== 1 || fmt.bits !== 8) return undefined;
  if (fmt.format === 7) return { content: data, encoding: 'MULAW', sampleRateHertz: rate };
  if (fmt.format === 6) return { content: data, encoding: 'ALAW', sampleRateHertz: rate };
  return undefined;
}

/** The input sample rate an Ogg Opus stream declares in its `OpusHead`, when it says one. */
function opusRate(b: Buffer): number | undefined {
  const at = b.subarray(0, 512).indexOf('OpusHead', 0, 'latin1');
  if (at < 0 || at + 16 > b.length) return undefined;
  const rate = b.readUInt32LE(at + 12);
  // Google takes these for Opus; any other input rate is decoded at 48 kHz.
  return [8000, 12_000, 16_000, 24_000, 48_000].includes(rate) ? rate : 48_000;
}

/** The sample rate of a FLAC stream's STREAMINFO block. */
function flacRate(b: Buffer): number | undefined {
  if (b.length < 21 || b.toString('latin1', 0, 4) !== 'fLaC') return undefined;
  return rateParam(String((b[18] << 12) | (b[19] << 4) | (b[20] >> 4)));
}

/**
 * The audio as a bot takes it, from its media type (and, where the type does not say, its
 * header); undefined when it is no audio any provider or speech-to-text takes (AAC, MP4…).
 * `audio/l16` is read as Lex reads it: 16-bit little-endian mono PCM, `rate` default 16000.
 */
export function audioOf(mediaType: string, bytes: Buffer): Audio | undefined {
  const { type, params } = parseMediaType(mediaType);
  switch (type) {
    case 'audio/wav':
    case 'audio/wave':
    case 'audio/x-wav':
    case 'audio/vnd.wave':
      return fromWav(bytes);
    case 'audio/l16': {
      const channels = Number(params.channels ?? 1);
      const rate = params.rate === undefined ? 16_000 : rateParam(params.rate);
      if (!rate || !Number.isInteger(channels) || channels < 1 || channels > 8) return undefined;
      return {
        content: channels === 1 ? bytes : downmix(bytes, channels),
        encoding: 'LINEAR16',
        sampleRateHertz: rate,
      };
    }
    case 'audio/basic':
    case 'audio/pcmu':
    case 'audio/mulaw':
    case 'audio/x-mulaw':
      return { content: bytes, encoding: 'MULAW', sampleRateHertz: rateParam(params.rate) ?? 8000 };
    case 'audio/pcma':
    case 'audio/alaw':
    case 'audio/x-alaw':
      return { content: bytes, encoding: 'ALAW', sampleRateHertz: rateParam(params.rate) ?? 8000 };
    case 'audio/ogg':
    case 'audio/opus': {
      const codecs = params.codecs?.toLowerCase();
      if (codecs && codecs !== 'opus') return undefined;
      if (bytes.subarray(0, 512).includes('\x01vorbis', 0, 'latin1')) return undefined;
      return { content: bytes, encoding: 'OGG_OPUS', sampleRateHertz: opusRate(bytes) ?? 48_000 };
    }
    case 'audio/webm': {
      const codecs = params.codecs?.toLowerCase();
      if (codecs && codecs !== 'opus') return undefined;
      // What browsers record (MediaRecorder); Opus decodes at 48 kHz.
      return { content: bytes, encoding: 'WEBM_OPUS', sampleRateHertz: 48_000 };
    }
    case 'audio/flac':
    case 'audio/x-flac': {
      const rate = flacRate(bytes);
      return { content: bytes, encoding: 'FLAC', ...(rate ? { sampleRateHertz: rate } : {}) };
    }
    case 'audio/mpeg':
    case 'audio/mp3':
      return { content: bytes, encoding: 'MP3' };
    case 'audio/amr':
      return { content: bytes, encoding: 'AMR', sampleRateHertz: 8000 };
    case 'audio/amr-wb':
      return { content: bytes, encoding: 'AMR_WB', sampleRateHertz: 16_000 };
    default:
      return undefined;
  }
}

// ---- fetching -----------------------------------------------------------------------------------

export interface VoiceFetcherOptions {
  /** The gateway, for its media route (`athena.nexus.url`). */
  nexusUrl: string;
  /** athena's cluster key: sent to the gateway only. */
  apiKey: string;
  /** Default 10 MB: what Google takes inline in one synchronous request. */
  maxBytes?: number;
  timeoutMs: number;
  /** Fetch provider URLs on loopback and private addresses too (a test, a closed network). */
  allowPrivateAddresses?: boolean;
}

const GATEWAY_MEDIA = /^\/nexus\/v3\/sms\/([^/?#]+)\/media\/([0-9a-f-]{36})$/i;
const RAW_MEDIA = /^genesys:\/\/nexus\/([0-9a-f-]{36})$/i;

/** Loopback, private, link-local, CGNAT, multicast and unspecified addresses: never fetched for a customer. */
const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return PRIVATE.check(address, 'ipv4');
  if (family !== 6) return true;
  // An IPv4 address written as IPv6 (::ffff:10.0.0.1) is that IPv4 address.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? PRIVATE.check(mapped[1], 'ipv4') : PRIVATE.check(address, 'ipv6');
}

/** dns.lookup that refuses private addresses: checked on what is connected to, so DNS cannot be raced. */
const publicLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 0);
    const ok = addresses.find((a) => !isPrivateAddress(a.address));
    if (!ok)
      return callback(
        Object.assign(new Error(`${hostname} is not a public address`), { code: 'EACCES' }),
        '',
        0,
      );
    if ((options as { all?: boolean }).all)
      (callback as never as (e: null, a: LookupAddress[]) => void)(null, [ok]);
    else callback(null, ok.address, ok.family);
  });
};

const safeDecode = (s: string): string | undefined => {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
};

export class VoiceFetcher {
  private readonly maxBytes: number;

  constructor(private readonly opts: VoiceFetcherOptions) {
    this.maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
  }

  /** The audio's bytes. Throws VoiceMessageError saying why not. */
  async fetch(ccid: string, url: string, signal?: AbortSignal): Promise<Buffer> {
    if (/^data:/i.test(url)) return this.fromDataUrl(url);
    const raw = RAW_MEDIA.exec(url);
    const path = raw ? `/nexus/v3/sms/${encodeURIComponent(ccid)}/media/${raw[1]}` : this.gatewayPath(url);
    if (path !== undefined) {
      const m = GATEWAY_MEDIA.exec(path);
      if (!m || safeDecode(m[1]) !== ccid)
        throw new VoiceMessageError("the voice message is not one of this tenant's files on the gateway");
      if (!this.opts.nexusUrl) throw new VoiceMessageError('athena.nexus.url is not set');
      return this.get(new URL(path, this.opts.nexusUrl), {
        headers: { 'x-api-key': this.opts.apiKey, 'x-ccid': ccid },
        signal,
      });
    }
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new VoiceMessageError('the voice message has no usable URL');
    }
    if (target.protocol !== 'https:' && target.protocol !== 'http:')
      throw new VoiceMessageError(`the voice message's URL scheme ${target.protocol} is not fetched`);
    if (target.username || target.password)
      throw new VoiceMessageError("the voice message's URL carries credentials");
    // An address in the URL is connected to without a lookup: checked here.
    const literal = target.hostname.replace(/^\[|\]$/g, '');
    if (!this.opts.allowPrivateAddresses && isIP(literal) && isPrivateAddress(literal))
      throw new VoiceMessageError(
        `fetching the voice message from ${target.host} failed: ${literal} is not a public address`,
      );
    return this.get(target, { headers: {}, signal, publicOnly: !this.opts.allowPrivateAddresses });
  }

  /** The path of a URL on the gateway (relative, or on its origin); undefined for any other URL. */
  private gatewayPath(url: string): string | undefined {
    if (url.startsWith('/') && !url.startsWith('//')) return url.split(/[?#]/)[0];
    if (!this.opts.nexusUrl) return undefined;
    try {
      const u = new URL(url);
      return u.origin === new URL(this.opts.nexusUrl).origin ? u.pathname : undefined;
    } catch {
      return undefined;
    }
  }

  private fromDataUrl(url: string): Buffer {
    const m = DATA_URL.exec(url);
    if (!m) throw new VoiceMessageError('the voice message is not a well-formed data URL');
    const body = url.slice(m[0].length);
    // Refuse before decoding what is too big: base64 decodes to 3/4 of its length, percent-encoding to at least 1/3.
    if ((m[2] ? Math.floor((body.length * 3) / 4) : Math.ceil(body.length / 3)) > this.maxBytes)
      throw new VoiceMessageError(`the voice message is larger than ${this.maxBytes} bytes`);
    let bytes: Buffer;
    try {
      bytes = m[2] ? Buffer.from(body, 'base64') : Buffer.from(decodeURIComponent(body), 'latin1');
    } catch {
      throw new VoiceMessageError('the voice message is not a well-formed data URL');
    }
    if (!bytes.length) throw new VoiceMessageError('the voice message is empty');
    if (bytes.length > this.maxBytes)
      throw new VoiceMessageError(`the voice message is larger than ${this.maxBytes} bytes`);
    return bytes;
  }

  private get(
    url: URL,
    opts: { headers: Record<string, string>; signal?: AbortSignal; publicOnly?: boolean },
  ): Promise<Buffer> {
    const where = url.host;
    return new Promise<Buffer>((resolve, reject) => {
      const fail = (message: string, cause?: unknown) => {
        req.destroy();
        reject(new VoiceMessageError(message, { cause }));
      };
      const client = url.protocol === 'https:' ? https : http;
      const req = client.get(
        url,
        {
          headers: { accept: 'audio/*, */*;q=0.1', ...opts.headers },
          timeout: this.opts.timeoutMs,
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(opts.publicOnly ? { lookup: publicLookup } : {}),
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status !== 200) {
            res.resume();
            return fail(`fetching the voice message from ${where} answered HTTP ${status}`);
          }
          const declared = Number(res.headers['content-length']);
          if (declared > this.maxBytes)
            return fail(`the voice message is larger than ${this.maxBytes} bytes`);
          const parts: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > this.maxBytes) return fail(`the voice message is larger than ${this.maxBytes} bytes`);
            parts.push(chunk);
          });
          res.on('end', () => {
            if (size > this.maxBytes) return;
            if (!size) return fail('the voice message is empty');
            resolve(Buffer.concat(parts));
          });
          res.on('error', (err) => fail(`fetching the voice message from ${where} failed`, err));
        },
      );
      req.on('timeout', () =>
        fail(`fetching the voice message from ${where} took over ${this.opts.timeoutMs} ms`),
      );
      req.on('error', (err) => fail(`fetching the voice message from ${where} failed: ${err.message}`, err));
    });
  }
}
