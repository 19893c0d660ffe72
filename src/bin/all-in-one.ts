#!/usr/bin/env node
/**
 * `npm start`: the gateway and the AI connector in one process on the embedded defaults (PGlite and
 * in-process state unless configured otherwise). Prints where everything is and the admin token.
 */
import { startAthenaWithNexus } from '../bots/in-process.js';
import { createNexus } from '../gateway/nexus.js';
import { configFromArgs, makeLogger, run } from './run.js';

const config = configFromArgs(process.argv);
const log = makeLogger(config.nexus.logLevel, 'nexus');

await run(log, async () => {
  const nexus = createNexus(config.nexus, log);
  await nexus.start();
  let athena: Awaited<ReturnType<typeof startAthenaWithNexus>>;
  try {
    // athena becomes the gateway's default AI connector target (a tenant's own service overrides it).
    athena = await startAthenaWithNexus(nexus, config.athena, log.child({ service: 'athena' }));
  } catch (err) {
    await nexus.close();
    throw err;
  }
  const host = (h: string) => (h === '0.0.0.0' ? '127.0.0.1' : h);
  const lines = [
    '',
    `  nexus    http://${host(config.nexus.host)}:${nexus.port}   (health: /health/detail, demo: /ux/demo)`,
    `  metrics  http://${host(config.nexus.host)}:${nexus.metricsPort}/metrics`,
    `  athena   http://${host(config.athena.host)}:${athena.port}   (health: /health/detail)`,
    `  admin token: ${nexus.adminToken}`,
    `  storage: ${nexus.db.embedded ? 'embedded PostgreSQL (PGlite)' : 'PostgreSQL'}, ${nexus.state.kind === 'memory' ? 'in-process state' : 'Redis'}`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return {
    async close() {
      await athena.close();
      await nexus.close();
    },
  };
});
