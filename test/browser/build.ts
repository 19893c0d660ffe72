/** The suites exercise the bundles built from the current sources, not whatever dist/web holds. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

let built = false;

export function buildBundles(): void {
  if (built) return;
  execFileSync(process.execPath, [join(import.meta.dirname, '..', '..', 'scripts', 'build-web.mjs')], {
    stdio: 'pipe',
  });
  built = true;
}
