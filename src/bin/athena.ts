#!/usr/bin/env node
/** `athena` runs the AI connector alone. */
import { createStandaloneAthena } from '../bots/standalone.js';
import { configFromArgs, makeLogger, run } from './run.js';

const config = configFromArgs(process.argv);
const log = makeLogger(config.nexus.logLevel, 'athena');
await run(log, async () => {
  // With athena.redis.nodes on the gateway's Redis, athena hears its service changes there.
  const athena = createStandaloneAthena(config, log);
  await athena.start();
  log.info({ url: athena.url }, 'athena started');
  return athena;
});
