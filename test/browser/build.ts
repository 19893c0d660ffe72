/**
 * The suites serve bundles built from the current sources into a folder of their own (never
 * dist/web, which another worker or a running gateway may be reading), given to the gateway as
 * `nexus.ux.assetsDir`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let dir: string | undefined;

/** Builds once per test worker; returns the folder to pass as `nexus.ux.assetsDir`. */
export function buildBundles(): string {
  if (dir) return dir;
  const out = mkdtempSync(join(tmpdir(), 'nexus-web-'));
  execFileSync(
    process.execPath,
    [join(import.meta.dirname, '..', '..', 'scripts', 'build-web.mjs'), '--out', out],
    {
      stdio: 'pipe',
    },
  );
  dir = out;
  process.once('exit', () => rmSync(out, { recursive: true, force: true }));
  return out;
}
