/**
 * Chat endpoints: which queue a conversation started on an endpoint goes to, which bot answers it
 * first, and whether a customer who leaves puts it on async hold (rather than ending it).
 */
import type { Queryable } from '../../shared/db/pool.js';

export interface ChatEndpoint {
  ccid: string;
  endpoint: string;
  queue: string;
  bot?: string;
  asyncHold: boolean;
  created: string;
  updated: string;
}

export interface EndpointInput {
  queue: string;
  bot?: string | null;
  asyncHold?: boolean;
}

interface Row {
  ccid: string;
  endpoint: string;
  queue: string;
  bot: string | null;
  async_hold: boolean;
  created_at: Date;
  updated_at: Date;
}

const toEndpoint = (r: Row): ChatEndpoint => ({
  ccid: r.ccid,
  endpoint: r.endpoint,
  queue: r.queue,
  ...(r.bot ? { bot: r.bot } : {}),
  asyncHold: r.async_hold,
  created: r.created_at.toISOString(),
  updated: r.updated_at.toISOString(),
});

export class EndpointStore {
  constructor(private readonly db: Queryable) {}

  async get(ccid: string, endpoint: string): Promise<ChatEndpoint | undefined> {
    const r = await this.db.query<Row>('SELECT * FROM chat_endpoints WHERE ccid = $1 AND endpoint = $2', [
      ccid,
      endpoint,
    ]);
    return r.rows[0] ? toEndpoint(r.rows[0]) : undefined;
  }

  async list(ccid: string): Promise<ChatEndpoint[]> {
    const r = await this.db.query<Row>('SELECT * FROM chat_endpoints WHERE ccid = $1 ORDER BY endpoint', [
      ccid,
    ]);
    return r.rows.map(toEndpoint);
  }

  /** Creates or replaces; `created` tells which. */
  async put(
    ccid: string,
    endpoint: string,
    input: EndpointInput,
  ): Promise<{ endpoint: ChatEndpoint; created: boolean }> {
    const r = await this.db.query<Row & { inserted: boolean }>(
      `INSERT INTO chat_endpoints (ccid, endpoint, queue, bot, async_hold) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (ccid, endpoint) DO UPDATE
         SET queue = EXCLUDED.queue, bot = EXCLUDED.bot, async_hold = EXCLUDED.async_hold, updated_at = now()
       RETURNING *, (xmax = 0) AS inserted`,
      [ccid, endpoint, input.queue, input.bot ?? null, input.asyncHold ?? true],
    );
    return { endpoint: toEndpoint(r.rows[0]), created: r.rows[0].inserted };
  }

  async delete(ccid: string, endpoint: string): Promise<boolean> {
    const r = await this.db.query('DELETE FROM chat_endpoints WHERE ccid = $1 AND endpoint = $2', [
      ccid,
      endpoint,
    ]);
    return (r.rowCount ?? 0) > 0;
  }
}
