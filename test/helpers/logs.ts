/** Collects a gateway's JSON log lines in memory, for tests that check what is (not) logged. */
import { Writable } from 'node:stream';

export interface LogCollector {
  /** Pass as `startNexus({ logDestination })`. */
  stream: Writable;
  /** Every line written so far, raw. */
  lines(): string[];
  /** All lines as one string, to search for a secret. */
  text(): string;
}

export function collectLogs(): LogCollector {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const text = () => chunks.join('');
  return { stream, text, lines: () => text().split('\n').filter(Boolean) };
}
