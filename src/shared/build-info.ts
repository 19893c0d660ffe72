import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './db/migrate.js';

export interface BuildInfo {
  version: string;
  changeset: string;
  timestamp: string;
}

let cached: BuildInfo | undefined;

/** Version from package.json; changeset and timestamp from the build environment when set. */
export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  cached = {
    version: pkg.version,
    changeset: process.env.BUILD_CHANGESET ?? 'unknown',
    timestamp: process.env.BUILD_TIMESTAMP ?? 'unknown',
  };
  return cached;
}
