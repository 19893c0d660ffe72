/** Prints the OpenAPI document of the gateway's routes, or with `--write` updates docs/openapi.json. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNexus } from '../src/gateway/nexus.js';
import { buildOpenApi } from '../src/gateway/openapi/spec.js';
import { buildInfo } from '../src/shared/build-info.js';
import { loadConfig } from '../src/shared/config.js';
import { createLogger } from '../src/shared/logger.js';

/** The routes of a gateway as configured by default (built, not started: nothing listens). */
export function gatewayRoutes() {
  const cfg = loadConfig({
    env: {},
    overrides: {
      nexus: {
        adminToken: 'docs',
        secretsKey: Buffer.alloc(32).toString('base64'),
        db: { embeddedInMemory: true },
      },
    },
  });
  return createNexus(cfg.nexus, createLogger({ level: 'silent' })).router.list();
}

export function openApiText(): string {
  return `${JSON.stringify(buildOpenApi(gatewayRoutes(), buildInfo().version), null, 2)}\n`;
}

if (process.argv[1]?.endsWith('openapi.ts')) {
  if (process.argv.includes('--write'))
    writeFileSync(join(import.meta.dirname, '..', 'docs', 'openapi.json'), openApiText());
  else process.stdout.write(openApiText());
  process.exit(0);
}
