/**
 * How long a voice message plays, read from its container without decoding it: whether it fits in
 * one synchronous Recognize (a minute), and how fast to stream it. Raw PCM and G.711 from their
 * sample rate; Ogg Opus from its last granule position; WebM from its declared duration or its
 * blocks' timecodes (what a browser's MediaRecorder writes has no duration); FLAC from STREAMINFO;
 * MP3 from its first frame (the Xing/Info frame count, else its bitrate); AMR by counting its
 * 20 ms frames. Undefined where the data
 * does not say (a FLAC stream that left its sample count at 0, a broken container).
 */

export interface TimedAudio {
  content: Buffer;
  encoding: string;
  sampleRateHertz?: number;
}

export function durationMs(audio: TimedAudio): number | undefined {
  const b = audio.content;
  switch (audio.encoding) {
    case 'LINEAR16':
      return audio.sampleRateHertz ? (b.length / (2 * audio.sampleRateHertz)) * 1000 : undefined;
    case 'MULAW':
    case 'ALAW':
      return audio.sampleRateHertz ? (b.length / audio.sampleRateHertz) * 1000 : undefined;
    case 'OGG_OPUS':
      return oggOpusMs(b);
    case 'WEBM_OPUS':
      return webmMs(b);
    case 'FLAC':
      return flacMs(b);
    case 'MP3':
      return mp3Ms(b);
    case 'AMR':
    case 'AMR_WB':
      return amrMs(b);
    default:
      return undefined;
  }
}

// ---- Ogg ----------------------------------------------------------------------------------------

/**
 * Ogg Opus: the granule position of the stream's last page counts 48 kHz samples from the start,
 * including the pre-skip its OpusHead declares (RFC 7845 §4).
 */
export function oggOpusMs(b: Buffer): number | undefined {
  let serial: number | undefined;
  let preSkip = 0;
  let last: bigint | undefined;
  for (let at = 0; at + 27 <= b.length; ) {
    if (b.toString('latin1', at, at + 4) !== 'OggS') return undefined;
    const segments = b[at + 26];
    const bodyAt = at + 27 + segments;
    if (bodyAt > b.length) break;
    let size = 0;
    for (let i = 0; i < segments; i++) size += b[at + 27 + i];
    if (bodyAt + size > b.length) break;
    const pageSerial = b.readUInt32LE(at + 14);
    if (serial === undefined && b.toString('latin1', bodyAt, bodyAt + 8) === 'OpusHead' && size >= 19) {
      serial = pageSerial;
      preSkip = b.readUInt16LE(bodyAt + 10);
    } else if (pageSerial === serial) {
      const granule = b.readBigInt64LE(at + 6);
      // -1: no packet ends on this page.
      if (granule >= 0n) last = granule;
    }
    at = bodyAt + size;
  }
  if (serial === undefined || last === undefined) return undefined;
  return Math.max(0, (Number(last) - preSkip) / 48);
}

// ---- WebM (Matroska) ----------------------------------------------------------------------------

const EBML_SEGMENT = 0x18538067;
const EBML_CLUSTER = 0x1f43b675;
const EBML_INFO = 0x1549a966;
const EBML_BLOCK_GROUP = 0xa0;
const EBML_BLOCK = 0xa1;
const EBML_SIMPLE_BLOCK = 0xa3;
const EBML_TIMECODE = 0xe7;
const EBML_TIMECODE_SCALE = 0x2ad7b1;
const EBML_DURATION = 0x4489;
/** Masters whose children are read; every other element is skipped by its size. */
const MASTERS = new Set([EBML_SEGMENT, EBML_CLUSTER, EBML_INFO, EBML_BLOCK_GROUP]);

/** An EBML variable-length integer at `at`: its value (`mask`: without the length marker) and length. */
function vint(
  b: Buffer,
  at: number,
  mask: boolean,
): { value: number; length: number; unknown: boolean } | undefined {
  const first = b[at];
  if (first === undefined || first === 0) return undefined;
  const length = Math.clz32(first) - 23;
  if (length > 8 || at + length > b.length) return undefined;
  let value = mask ? first & (0xff >> length) : first;
  let allOnes = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    value = value * 256 + b[at + i];
    if (b[at + i] !== 0xff) allOnes = false;
  }
  return { value, length, unknown: mask && allOnes };
}

function uint(b: Buffer, at: number, size: number): number {
  let v = 0;
  for (let i = 0; i < size; i++) v = v * 256 + b[at + i];
  return v;
}

/**
 * WebM: the Segment's Duration when it says one; else the last block's time (its cluster's
 * Timecode plus its own offset) and one more block's length. Elements of unknown size (a live
 * recording) are read as the elements that follow.
 */
export function webmMs(b: Buffer): number | undefined {
  if (b.length < 4 || b.readUInt32BE(0) !== 0x1a45dfa3) return undefined;
  let scale = 1_000_000;
  let declared: number | undefined;
  let cluster = 0;
  const times: number[] = [];
  let at = 0;
  while (at < b.length) {
    const id = vint(b, at, false);
    if (!id) break;
    const size = vint(b, at + id.length, true);
    if (!size) break;
    const data = at + id.length + size.length;
    if (MASTERS.has(id.value)) {
      at = data;
      continue;
    }
    if (size.unknown || data + size.value > b.length) break;
    switch (id.value) {
      case EBML_TIMECODE_SCALE:
        scale = uint(b, data, size.value) || scale;
        break;
      case EBML_DURATION:
        if (size.value === 4) declared = b.readFloatBE(data);
        else if (size.value === 8) declared = b.readDoubleBE(data);
        break;
      case EBML_TIMECODE:
        cluster = uint(b, data, size.value);
        break;
      case EBML_SIMPLE_BLOCK:
      case EBML_BLOCK: {
        const track = vint(b, data, true);
        if (track && size.value >= track.length + 3) times.push(cluster + b.readInt16BE(data + track.length));
        break;
      }
    }
    at = data + size.value;
  }
  if (declared !== undefined && declared > 0) return (declared * scale) / 1e6;
  if (!times.length) return undefined;
  const end = Math.max(...times);
  // The last block lasts about as long as the one before it (Opus frames are all one length).
  const step = times.length > 1 ? Math.max(0, end - times[times.length - 2]) : 0;
  return ((end + step) * scale) / 1e6;
}

// ---- FLAC ---------------------------------------------------------------------------------------

/** FLAC: STREAMINFO's total samples over its sample rate (0 samples: an encoder that did not know). */
export function flacMs(b: Buffer): number | undefined {
  if (b.length < 26 || b.toString('latin1', 0, 4) !== 'fLaC' || (b[4] & 0x7f) !== 0) return undefined;
  const rate = (b[18] << 12) | (b[19] << 4) | (b[20] >> 4);
  const samples = (b[21] & 0x0f) * 2 ** 32 + b.readUInt32BE(22);
  return rate && samples ? (samples / rate) * 1000 : undefined;
}

// ---- MP3 ----------------------------------------------------------------------------------------

const MP3_BITRATES = {
  // MPEG-1 Layer III, and MPEG-2/2.5 Layer III, in kbit/s by the header's index.
  1: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
} as const;
const MP3_RATES = {
  3: [44_100, 48_000, 32_000],
  2: [22_050, 24_000, 16_000],
  0: [11_025, 12_000, 8000],
} as const;

/** MP3 (Layer III): the Xing/Info frame count where the first frame has one, else the bytes at its bitrate. */
export function mp3Ms(b: Buffer): number | undefined {
  let at = 0;
  // An ID3v2 tag first: its size is syncsafe (7 bits a byte).
  if (b.length >= 10 && b.toString('latin1', 0, 3) === 'ID3')
    at = 10 + ((b[6] & 0x7f) << 21) + ((b[7] & 0x7f) << 14) + ((b[8] & 0x7f) << 7) + (b[9] & 0x7f);
  if (at + 4 > b.length || b[at] !== 0xff || (b[at + 1] & 0xe0) !== 0xe0) return undefined;
  const version = (b[at + 1] >> 3) & 3; // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
  const layer = (b[at + 1] >> 1) & 3; // 1: Layer III
  if (version === 1 || layer !== 1) return undefined;
  const kbps = MP3_BITRATES[version === 3 ? 1 : 2][b[at + 2] >> 4];
  const rate = MP3_RATES[version as 0 | 2 | 3][(b[at + 2] >> 2) & 3];
  if (!kbps || !rate) return undefined;
  const samplesPerFrame = version === 3 ? 1152 : 576;
  const mono = b[at + 3] >> 6 === 3;
  const side = version === 3 ? (mono ? 17 : 32) : mono ? 9 : 17;
  const tag = b.toString('latin1', at + 4 + side, at + 8 + side);
  if ((tag === 'Xing' || tag === 'Info') && b.length >= at + 16 + side && b.readUInt32BE(at + 8 + side) & 1)
    return ((b.readUInt32BE(at + 12 + side) * samplesPerFrame) / rate) * 1000;
  return (((b.length - at) * 8) / (kbps * 1000)) * 1000;
}

// ---- AMR ----------------------------------------------------------------------------------------

/** Bytes after the header byte of an AMR (RFC 4867 §5.3) frame, by frame type; -1: not a frame type. */
const AMR_NB_BYTES = [12, 13, 15, 17, 19, 20, 26, 31, 5, 6, 5, 5, -1, -1, -1, 0];
const AMR_WB_BYTES = [17, 23, 32, 36, 40, 46, 50, 58, 60, 5, -1, -1, -1, -1, 0, 0];

/** AMR and AMR-WB files (`#!AMR\n`, `#!AMR-WB\n`): every frame, speech or not, is 20 ms. */
export function amrMs(b: Buffer): number | undefined {
  const wb = b.toString('latin1', 0, 9) === '#!AMR-WB\n';
  if (!wb && b.toString('latin1', 0, 6) !== '#!AMR\n') return undefined;
  const sizes = wb ? AMR_WB_BYTES : AMR_NB_BYTES;
  let frames = 0;
  for (let at = wb ? 9 : 6; at < b.length; frames++) {
    const size = sizes[(b[at] >> 3) & 0x0f];
    if (size < 0) return undefined;
    at += 1 + size;
  }
  return frames * 20;
}
