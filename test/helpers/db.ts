/** A migrated database on the chosen engine, without a gateway around it. */
import { migrate } from '../../src/shared/db/migrate.js';
import { Database } from '../../src/shared/db/pool.js';
import { createLogger } from '../../src/shared/logger.js';
import { type Engine, freshDatabase, realEngines } from './engines.js';

export async function testDatabase(
  engine: Engine,
): Promise<{ db: Database; reopen: () => Promise<Database>; cleanup: () => Promise<void> }> {
  const log = createLogger({ level: 'silent' });
  if (engine === 'embedded') {
    const db = new Database({
      host: '',
      port: 0,
      user: '',
      password: '',
      database: '',
      ssl: false,
      poolSize: 1,
      log,
    });
    await db.start();
    await migrate(db, log);
    // In memory: a reopen is the same instance (the embedded restart path is covered with a data dir elsewhere).
    return { db, reopen: async () => db, cleanup: () => db.close() };
  }
  const real = realEngines()!;
  const { database, drop } = await freshDatabase();
  const open = async () => {
    const db = new Database({ ...real.pg, database, ssl: false, poolSize: 5, log });
    await db.start();
    return db;
  };
  const db = await open();
  await migrate(db, log);
  const opened = [db];
  return {
    db,
    reopen: async () => {
      const d = await open();
      opened.push(d);
      return d;
    },
    cleanup: async () => {
      for (const d of opened) await d.close();
      await drop();
    },
  };
}
