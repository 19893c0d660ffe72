/**
 * A voice message from the microphone: `getUserMedia` + `MediaRecorder`, Opus in WebM where the
 * browser records it (Chromium, Firefox), else what it offers. The microphone is released as soon
 * as a recording stops or is cancelled.
 */

/** The longest voice message; the recording stops and is sent when it is reached. */
export const MAX_VOICE_SECONDS = 60;

const PREFERRED = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/mp4'];

/** Whether this browser can record at all (the widget shows no microphone button otherwise). */
export function canRecord(): boolean {
  return (
    typeof MediaRecorder !== 'undefined' &&
    typeof navigator !== 'undefined' &&
    typeof navigator.mediaDevices?.getUserMedia === 'function'
  );
}

export interface Recording {
  audio: Blob;
  /** What the recorder produced, e.g. `audio/webm;codecs=opus`. */
  mediaType: string;
  durationMs: number;
}

export class VoiceRecorder {
  private recorder: MediaRecorder | undefined;
  private stream: MediaStream | undefined;
  private chunks: Blob[] = [];
  private startedAt = 0;

  get recording(): boolean {
    return this.recorder?.state === 'recording';
  }

  get elapsedMs(): number {
    return this.recording ? performance.now() - this.startedAt : 0;
  }

  /** Asks for the microphone and starts; rejects when it is refused or missing. */
  async start(): Promise<void> {
    if (this.recorder) return;
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const type = PREFERRED.find((t) => MediaRecorder.isTypeSupported?.(t));
    let recorder: MediaRecorder;
    try {
      recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
    } catch (err) {
      for (const t of stream.getTracks()) t.stop();
      throw err;
    }
    this.stream = stream;
    this.recorder = recorder;
    this.chunks = [];
    recorder.ondataavailable = (e) => {
      if (e.data.size > 0) this.chunks.push(e.data);
    };
    recorder.start();
    this.startedAt = performance.now();
  }

  /** Stops and hands over what was recorded. */
  stop(): Promise<Recording> {
    const recorder = this.recorder;
    if (!recorder) return Promise.reject(new Error('not recording'));
    const durationMs = this.elapsedMs;
    return new Promise((resolve, reject) => {
      recorder.onstop = () => {
        const mediaType = (recorder.mimeType || this.chunks[0]?.type || 'audio/webm').replace(/\s+/g, '');
        const audio = new Blob(this.chunks, { type: mediaType });
        this.release();
        if (audio.size === 0) reject(new Error('nothing was recorded'));
        else resolve({ audio, mediaType, durationMs });
      };
      recorder.onerror = () => {
        this.release();
        reject(new Error('the recording failed'));
      };
      recorder.stop();
    });
  }

  /** Stops and throws the recording away. */
  cancel(): void {
    const recorder = this.recorder;
    if (!recorder) return;
    recorder.onstop = null;
    recorder.ondataavailable = null;
    if (recorder.state !== 'inactive') recorder.stop();
    this.release();
  }

  private release(): void {
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.stream = undefined;
    this.recorder = undefined;
    this.chunks = [];
  }
}

/** `m:ss` */
export function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
