/**
 * The database: one `pg` code path for both engines. Production is PostgreSQL through a `pg` pool;
 * the embedded default is PGlite (PostgreSQL in WebAssembly) served over the PostgreSQL wire protocol
 * by pglite-socket, so the very same driver and SQL run against it. PGlite is single-session, so its
 * pool holds one connection.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { counter, histogram, type Registry } from '../metrics.js';

export interface Queryable {
  query<R extends Record<string, any> = any>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface DbOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  ssl: boolean;
  sslRejectUnauthorized?: boolean;
  poolSize: number;
  /** Embedded only: where PGlite keeps its files; undefined = in memory. */
  embeddedDir?: string;
  log: Logger;
  registry?: Registry;
  metricPrefix?: string;
}

const SOCKET_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);

/**
 * A database that cannot be reached (down, restarting, connections cut) is UNAVAILABLE: 503 and
 * retryable for the client, not an internal error. Other SQL errors stay as they are for their
 * callers, but for characters PostgreSQL cannot store.
 */
function connectionError(err: unknown): unknown {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  const lost =
    code.startsWith('08') || // connection exception
    code === '57P01' || // admin shutdown
    code === '57P02' || // crash shutdown
    code === '57P03' || // cannot connect now (starting up)
    SOCKET_ERRORS.has(code) ||
    (!code &&
      /Connection terminated|connection timeout|timeout exceeded when trying to connect/i.test(message));
  if (lost)
    return new AppError('UNAVAILABLE', 'The database is unavailable; try again.', undefined, { cause: err });
  // Text the database cannot hold (U+0000, an invalid escape) came from the client: a 400.
  if (code === '22021' || code === '22P05')
    return new AppError(
      'VALIDATION_FAILED',
      'A value contains characters that cannot be stored.',
      undefined,
      {
        cause: err,
      },
    );
  return err;
}

type PGliteT = import('@electric-sql/pglite').PGlite;
type SocketServerT = import('@electric-sql/pglite-socket').PGLiteSocketServer;

export class Database implements Queryable {
  readonly embedded: boolean;
  private pool: pg.Pool | undefined;
  private pglite: PGliteT | undefined;
  private socketServer: SocketServerT | undefined;
  private _ready = false;
  private lastError: string | undefined;
  readonly name = 'db';
  private readonly m;

  constructor(private readonly opts: DbOptions) {
    this.embedded = opts.host === '';
    const reg = opts.registry;
    const p = opts.metricPrefix ?? 'nexus';
    this.m = reg
      ? {
          connect: counter(reg, `${p}_db_connect_total`, 'The total number of database connections opened.', [
            'db',
          ]),
          disconnect: counter(
            reg,
            `${p}_db_disconnect_total`,
            'The total number of database connections closed.',
            ['db'],
          ),
          request: counter(reg, `${p}_db_request_total`, 'The total number of database requests sent.', [
            'db',
          ]),
          success: counter(
            reg,
            `${p}_db_success_total`,
            'The total number of database requests that succeeded.',
            ['db', 'command'],
          ),
          errors: counter(reg, `${p}_db_errors_total`, 'The total number of database errors.', [
            'db',
            'code',
          ]),
          duration: histogram(
            reg,
            `${p}_db_request_duration_milliseconds`,
            'Database request duration in milliseconds.',
            ['db', 'method'],
            [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000],
          ),
        }
      : undefined;
  }

  get ready(): boolean {
    return this._ready;
  }

  get error(): string | undefined {
    return this.lastError;
  }

  /** The connection string clients other than this pool can use (the embedded server's too). */
  connectionInfo(): { host: string; port: number } {
    if (this.socketServer) {
      const [host, port] = this.socketServer.getServerConn().split(':');
      return { host, port: Number(port) };
    }
    return { host: this.opts.host, port: this.opts.port };
  }

  async start(): Promise<void> {
    let cfg: pg.PoolConfig;
    if (this.embedded) {
      const { PGlite } = await import('@electric-sql/pglite');
      const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
      if (this.opts.embeddedDir) mkdirSync(this.opts.embeddedDir, { recursive: true });
      this.pglite = await PGlite.create(
        this.opts.embeddedDir ? join(this.opts.embeddedDir, 'pgdata') : undefined,
      );
      this.socketServer = new PGLiteSocketServer({
        db: this.pglite,
        host: '127.0.0.1',
        port: 0,
        maxConnections: 4,
      });
      await this.socketServer.start();
      const { host, port } = this.connectionInfo();
      cfg = { host, port, user: 'postgres', database: 'postgres', max: 1 };
    } else {
      cfg = {
        host: this.opts.host,
        port: this.opts.port,
        user: this.opts.user,
        password: this.opts.password,
        database: this.opts.database,
        max: this.opts.poolSize,
        ssl: this.opts.ssl ? { rejectUnauthorized: this.opts.sslRejectUnauthorized ?? false } : undefined,
        connectionTimeoutMillis: 5000,
      };
    }
    const db = this.embedded ? 'embedded' : this.opts.database;
    this.pool = new pg.Pool({ ...cfg, idleTimeoutMillis: this.embedded ? 0 : 30_000 });
    this.pool.on('connect', () => this.m?.connect.inc({ db }));
    this.pool.on('remove', () => this.m?.disconnect.inc({ db }));
    this.pool.on('error', (err) => {
      // An idle client lost its connection; the pool replaces it on the next query.
      this.lastError = err.message;
      this.opts.log.warn({ err: err.message }, 'database connection lost');
    });
    // At start the operator needs the driver's own words (which host, what failed).
    await this.ping().catch((err) => {
      throw err instanceof AppError && err.cause ? err.cause : err;
    });
    this._ready = true;
  }

  /** Round-trip time in ms; marks the database ready or not. */
  async ping(): Promise<number> {
    const t = performance.now();
    try {
      await this.query('SELECT 1');
      this._ready = true;
      this.lastError = undefined;
    } catch (err) {
      this._ready = false;
      this.lastError = (
        (err instanceof AppError && (err.cause as Error | undefined)) ||
        (err as Error)
      ).message;
      throw err;
    }
    return Math.round((performance.now() - t) * 100) / 100;
  }

  async query<R extends Record<string, any> = any>(
    text: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    if (!this.pool) throw new Error('database not started');
    return this.instrumented(this.pool, text, params);
  }

  private async instrumented<R extends Record<string, any>>(
    q: pg.Pool | pg.PoolClient,
    text: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    const db = this.embedded ? 'embedded' : this.opts.database;
    const command = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? 'OTHER';
    this.m?.request.inc({ db });
    const t = performance.now();
    try {
      const r = await q.query<R>(text, params as any[]);
      this.m?.success.inc({ db, command });
      return r;
    } catch (err) {
      this.m?.errors.inc({ db, code: (err as { code?: string }).code ?? 'unknown' });
      throw connectionError(err);
    } finally {
      this.m?.duration.observe({ db, method: command }, performance.now() - t);
    }
  }

  /** Runs `fn` in a transaction on one connection; rolls back when it throws. */
  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    if (!this.pool) throw new Error('database not started');
    const client = await this.pool.connect().catch((err) => {
      throw connectionError(err);
    });
    const q: Queryable = { query: (text, params) => this.instrumented(client, text, params) };
    // A checked-out client has no pool listener: a connection lost between two statements (a
    // database restart) would otherwise be an unhandled 'error' event that ends the process.
    let lost: Error | undefined;
    const onError = (err: Error) => {
      lost = err;
      this.lastError = err.message;
      this.opts.log.warn({ err: err.message }, 'database connection lost in a transaction');
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const out = await fn(q);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      if (!lost) await client.query('ROLLBACK').catch(() => undefined);
      throw connectionError(err);
    } finally {
      client.off('error', onError);
      // A broken connection is destroyed, not handed to the next caller.
      client.release(lost);
    }
  }

  async close(): Promise<void> {
    this._ready = false;
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end().catch(() => undefined);
    await this.socketServer?.stop().catch(() => undefined);
    this.socketServer = undefined;
    await this.pglite?.close().catch(() => undefined);
    this.pglite = undefined;
  }
}
