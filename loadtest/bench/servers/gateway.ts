/**
 * The gateway under test, in its own process: the real `createNexus` composition with the
 * configuration the harness passes in BENCH_NEXUS_CONFIG (JSON of the `nexus` section), started
 * exactly as `nexus` starts it. With `--profile` the harness asks it to run V8's sampling CPU
 * profiler (the one behind `node --cpu-prof`) over each measured phase only, so start-up and
 * provisioning do not blur where the message path spends its time.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadConfig } from '../../../src/shared/config.js';
import { createLogger } from '../../../src/shared/logger.js';
import { createNexus } from '../../../src/gateway/nexus.js';
import { memoryAfterGc, serve } from '../ipc.js';

const overrides = JSON.parse(process.env.BENCH_NEXUS_CONFIG ?? '{}');
const config = loadConfig({ env: {}, overrides: { nexus: overrides } }).nexus;
const log = createLogger({ level: config.logLevel, name: 'nexus' });
const nexus = createNexus(config, log);
await nexus.start();

let profiler: Session | undefined;

/** Totals of the group-commit histograms: the harness takes deltas around a phase. */
async function commitStats() {
  const metrics = (await nexus.registry.getMetricsAsJSON()) as Array<{
    name: string;
    values: Array<{ metricName?: string; value: number }>;
  }>;
  const total = (name: string, suffix: string) =>
    (metrics.find((m) => m.name === name)?.values ?? [])
      .filter((v) => v.metricName === `${name}${suffix}`)
      .reduce((a, v) => a + v.value, 0);
  return {
    batches: total('nexus_chat_commit_batch_size', '_count'),
    messages: total('nexus_chat_commit_batch_size', '_sum'),
    commit_ms: total('nexus_chat_commit_duration_milliseconds', '_sum'),
  };
}

serve(
  {
    memory: () => ({ ...memoryAfterGc(), connections: nexus.io.engine.clientsCount }),
    commitStats,
    profileStart: async () => {
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 500 });
      await profiler.post('Profiler.start');
    },
    profileStop: async (a: { file: string }) => {
      if (!profiler) throw new Error('profiler not started');
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(a.file, JSON.stringify(profile));
      profiler.disconnect();
      profiler = undefined;
      return { file: a.file };
    },
  },
  () => nexus.close(),
  {
    url: nexus.url,
    adminToken: nexus.adminToken,
    db: nexus.db.embedded ? nexus.db.connectionInfo() : undefined,
  },
);
