#!/usr/bin/env node
/** `nexus` runs the gateway alone; `nexus migrate` applies pending migrations and exits. */
import { migrate } from '../shared/db/migrate.js';
import { Database } from '../shared/db/pool.js';
import { createNexus } from '../gateway/nexus.js';
import { configFromArgs, makeLogger, run } from './run.js';
import { join, resolve } from 'node:path';

const config = configFromArgs(process.argv);
const log = makeLogger(config.nexus.logLevel, 'nexus');

if (process.argv[2] === 'migrate') {
  const c = config.nexus;
  const db = new Database({
    host: c.db.host,
    port: c.db.port,
    user: c.db.user,
    password: c.db.password,
    database: c.db.database,
    ssl: c.db.enableSSL,
    sslRejectUnauthorized: c.db.sslRejectUnauthorized,
    poolSize: 1,
    embeddedDir: c.db.embeddedInMemory ? undefined : join(resolve(c.dataDir), 'db'),
    log,
  });
  try {
    await db.start();
    const applied = await migrate(db, log);
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n');
    await db.close();
    process.exit(0);
  } catch (err) {
    process.stderr.write(`migrate failed: ${(err as Error).message}\n`);
    process.exit(1);
  }
} else {
  await run(log, async () => {
    const nexus = createNexus(config.nexus, log);
    await nexus.start();
    log.info({ url: nexus.url, metrics: `http://127.0.0.1:${nexus.metricsPort}/metrics` }, 'nexus started');
    return nexus;
  });
}
