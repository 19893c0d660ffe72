/** Values generated once and kept in the data dir (the admin token, the secrets key), readable only by us. */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function generatedOnce(dataDir: string, file: string, make: () => string): string {
  const path = join(dataDir, file);
  try {
    const v = readFileSync(path, 'utf8').trim();
    if (v) return v;
  } catch {
    // not there yet
  }
  mkdirSync(dataDir, { recursive: true });
  const v = make();
  try {
    writeFileSync(path, `${v}\n`, { mode: 0o600, flag: 'wx' });
    return v;
  } catch {
    // Another process wrote it first: use theirs.
    return readFileSync(path, 'utf8').trim();
  }
}

export const randomToken = (bytes = 32) => randomBytes(bytes).toString('base64url');
