/** Shared start-up for the entry points: config, logger, signals, a clear message when start fails. */
import { type Config, ConfigError, loadConfig } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/logger.js';

export interface Runnable {
  close(): Promise<void>;
}

export function configFromArgs(argv: string[]): Readonly<Config> {
  const i = argv.indexOf('--config');
  const file = i >= 0 ? argv[i + 1] : undefined;
  try {
    return loadConfig({ file });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`nexus: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** Starts the parts, closes them in reverse on SIGTERM/SIGINT, exits non-zero when start fails. */
export async function run(log: Logger, start: () => Promise<Runnable>, graceMs = 15_000): Promise<void> {
  let running: Runnable | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const timer = setTimeout(() => {
      log.error('did not stop in time; exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    await running?.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  try {
    running = await start();
  } catch (err) {
    log.fatal({ err }, 'start failed');
    process.stderr.write(`start failed: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

export function makeLogger(level: string, name: string): Logger {
  return createLogger({ level, name });
}
