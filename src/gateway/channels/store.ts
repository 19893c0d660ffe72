/**
 * Channel sections in PostgreSQL. `channel_id` holds the routing key (see `channelKey`) under a
 * unique index, so two sections (of one tenant or of two) can never claim the same sender id or
 * domain, even when written at the same moment on two nodes.
 */
import type { Database, Queryable } from '../../shared/db/pool.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { SharedState, Unsubscribe } from '../../shared/state/types.js';
import { channelKey } from './schema.js';
import {
  CHANNELS_CHANGED,
  type ChannelChange,
  type ChannelInput,
  type ChannelProvider,
  type ChannelRecord,
  type ChannelStore,
  type ChannelType,
} from './types.js';

export interface ChannelStoreDeps {
  db: Database;
  state: SharedState;
  log: Logger;
}

interface Row {
  ccid: string;
  section: string;
  channel_id: string;
  channel_type: ChannelType;
  data: Omit<ChannelInput, 'channelType'>;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'ccid, section, channel_id, channel_type, data, created_at, updated_at';

function toRecord(r: Row): ChannelRecord {
  const d = r.data;
  return {
    ccid: r.ccid,
    section: r.section,
    channelId: d.channelId,
    channelType: r.channel_type,
    ...(d.endpoint !== undefined ? { endpoint: d.endpoint } : {}),
    ...(d.interactionSubtype !== undefined ? { interactionSubtype: d.interactionSubtype } : {}),
    ...(d.interactionType !== undefined ? { interactionType: d.interactionType } : {}),
    ...(d.media !== undefined ? { media: d.media } : {}),
    cxcOnly: d.cxcOnly === true,
    provider: (d.provider ?? null) as ChannelProvider | null,
    created: new Date(r.created_at).toISOString(),
    updated: new Date(r.updated_at).toISOString(),
  };
}

/** Finds the channel a sender id or email domain belongs to, for inbound routing. */
export async function channelByChannelId(
  q: Queryable,
  channelId: string,
): Promise<ChannelRecord | undefined> {
  if (typeof channelId !== 'string' || channelId.trim() === '') return undefined;
  const r = await q.query<Row>(`SELECT ${COLUMNS} FROM channels WHERE channel_id = $1`, [
    channelKey(channelId),
  ]);
  return r.rows[0] ? toRecord(r.rows[0]) : undefined;
}

export function createChannelStore(deps: ChannelStoreDeps): ChannelStore {
  const { db } = deps;
  const log = deps.log.child({ component: 'channels' });

  async function announce(change: ChannelChange): Promise<void> {
    log.info({ ccid: change.ccid, section: change.section, op: change.op }, 'channel changed');
    try {
      await deps.state.pubsub.publish(CHANNELS_CHANGED, JSON.stringify(change));
    } catch (err) {
      // The write is committed; a missed notice only delays cache refreshes elsewhere.
      log.warn({ err, ccid: change.ccid, section: change.section }, 'could not announce the channel change');
    }
  }

  return {
    channelByChannelId: (channelId) => channelByChannelId(db, channelId),

    async onChange(listener): Promise<Unsubscribe> {
      return deps.state.pubsub.subscribe(CHANNELS_CHANGED, (message) => {
        let change: ChannelChange;
        try {
          change = JSON.parse(message) as ChannelChange;
        } catch {
          return;
        }
        if (typeof change?.ccid === 'string' && typeof change?.section === 'string') listener(change);
      });
    },

    async get(ccid, section) {
      const r = await db.query<Row>(`SELECT ${COLUMNS} FROM channels WHERE ccid = $1 AND section = $2`, [
        ccid,
        section,
      ]);
      return r.rows[0] ? toRecord(r.rows[0]) : undefined;
    },

    async list(ccid) {
      const r = await db.query<Row>(`SELECT ${COLUMNS} FROM channels WHERE ccid = $1 ORDER BY section`, [
        ccid,
      ]);
      return r.rows.map(toRecord);
    },

    async put(ccid, section, input) {
      const key = channelKey(input.channelId);
      const { channelType, ...data } = input;
      let row: Row & { inserted: boolean; previous: string | null };
      try {
        const r = await db.query<Row & { inserted: boolean; previous: string | null }>(
          `WITH prev AS (SELECT channel_id FROM channels WHERE ccid = $1 AND section = $2)
           INSERT INTO channels (ccid, section, channel_id, channel_type, data)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (ccid, section) DO UPDATE
             SET channel_id = EXCLUDED.channel_id, channel_type = EXCLUDED.channel_type,
                 data = EXCLUDED.data, updated_at = now()
           RETURNING ${COLUMNS}, (xmax = 0) AS inserted, (SELECT channel_id FROM prev) AS previous`,
          [ccid, section, key, channelType, JSON.stringify(data)],
        );
        row = r.rows[0];
      } catch (err) {
        const e = err as { code?: string; constraint?: string };
        if (e.code === '23503')
          throw new AppError('TENANT_NOT_FOUND', `The tenant "${ccid}" does not exist.`, { ccid });
        if (e.code === '23505' && e.constraint !== 'channels_pkey') {
          // Name the section only when it is the caller's own: another tenant's is not theirs to know.
          const own = await db.query<{ section: string }>(
            'SELECT section FROM channels WHERE ccid = $1 AND channel_id = $2',
            [ccid, key],
          );
          const where = own.rows[0] ? ` by section "${own.rows[0].section}" of this tenant` : '';
          throw new AppError(
            'CHANNEL_ID_TAKEN',
            `The channelId "${input.channelId}" is already provisioned${where}; a channelId routes to one place only.`,
            { field: 'channelId', ...(own.rows[0] ? { section: own.rows[0].section } : {}) },
          );
        }
        throw err;
      }
      await announce({ ccid, section, channelKey: key, op: row.inserted ? 'created' : 'replaced' });
      if (row.previous && row.previous !== key) {
        await announce({ ccid, section, channelKey: row.previous, op: 'deleted' });
      }
      return { record: toRecord(row), created: row.inserted };
    },

    async delete(ccid, section) {
      const r = await db.query<Row>(
        `DELETE FROM channels WHERE ccid = $1 AND section = $2 RETURNING ${COLUMNS}`,
        [ccid, section],
      );
      const row = r.rows[0];
      if (!row)
        throw new AppError(
          'CHANNEL_NOT_FOUND',
          `The channel section "${section}" is not provisioned for this tenant.`,
        );
      await announce({ ccid, section, channelKey: row.channel_id, op: 'deleted' });
      return toRecord(row);
    },
  };
}
