#!/usr/bin/env node
/** `athena` runs the AI connector alone. */
import { createAthena } from '../bots/athena.js';
import { configFromArgs, makeLogger, run } from './run.js';

const config = configFromArgs(process.argv);
const log = makeLogger(config.nexus.logLevel, 'athena');
await run(log, async () => {
  const athena = createAthena(config.athena, log);
  await athena.start();
  log.info({ url: athena.url }, 'athena started');
  return athena;
});
