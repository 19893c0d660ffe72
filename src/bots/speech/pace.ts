/**
 * Streaming a recorded message no faster than a set multiple of real time. Google's streaming
 * recognition is for live audio: it wants audio "at a rate that approximates real time" and stops
 * a stream that runs ahead ("Audio data is being streamed too fast", OUT_OF_RANGE), so a voice
 * message already in hand is sent as if it were being spoken, `pace` times faster.
 */

/** Time as pacing sees it: the process's, or a test's. */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface PaceOptions {
  /** Bytes per request. */
  chunkBytes: number;
  /** How long the whole content plays. */
  durationMs: number;
  /** Times real time, at least 1. */
  pace: number;
  clock: Clock;
}

/**
 * The content in requests of `chunkBytes`, each sent when the audio before it has "played" at
 * `pace` times real time: in any stretch of time t, at most pace × t of audio and two requests more
 * go. A stall (a busy event loop) is not made up for with a burst: the schedule moves on from when
 * the request went. Compressed audio is reckoned as evenly spread over its bytes.
 */
export async function* pacedChunks(content: Buffer, o: PaceOptions): AsyncGenerator<Buffer> {
  const msPerByte = content.length ? o.durationMs / content.length : 0;
  let due = o.clock.now();
  for (let at = 0; at < content.length; at += o.chunkBytes) {
    const wait = due - o.clock.now();
    if (wait > 0) await o.clock.sleep(wait);
    const chunk = content.subarray(at, at + o.chunkBytes);
    const step = (chunk.length * msPerByte) / o.pace;
    // A timer's usual lateness is made up (a request early at most); a longer stall is not.
    due = Math.max(due, o.clock.now() - step) + step;
    yield chunk;
  }
}
