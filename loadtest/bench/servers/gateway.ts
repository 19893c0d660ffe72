/**
 * The gateway under test, in its own process: the real `createNexus` composition with the
 * configuration the harness passes in BENCH_NEXUS_CONFIG (JSON of the `nexus` section), started
 * exactly as `nexus` starts it. Run with `--cpu-prof` by the harness when profiling.
 */
import { loadConfig } from '../../../src/shared/config.js';
import { createLogger } from '../../../src/shared/logger.js';
import { createNexus } from '../../../src/gateway/nexus.js';
import { memoryAfterGc, serve } from '../ipc.js';

const overrides = JSON.parse(process.env.BENCH_NEXUS_CONFIG ?? '{}');
const config = loadConfig({ env: {}, overrides: { nexus: overrides } }).nexus;
const log = createLogger({ level: config.logLevel, name: 'nexus' });
const nexus = createNexus(config, log);
await nexus.start();

serve(
  {
    memory: () => ({ ...memoryAfterGc(), connections: nexus.io.engine.clientsCount }),
  },
  () => nexus.close(),
  {
    url: nexus.url,
    adminToken: nexus.adminToken,
    db: nexus.db.embedded ? nexus.db.connectionInfo() : undefined,
  },
);
