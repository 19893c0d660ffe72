/**
 * The outbox over REST, for operators: what is waiting, delivered or dead-lettered, and re-driving
 * a dead (or stuck) delivery.
 *
 * - `GET /nexus/v3/outbox/{ccid}?state=dead|pending|done&limit=N` → `data.entries[]`, newest first;
 * - `POST /nexus/v3/outbox/{ccid}/{id}/redrive` → the entry, pending again with fresh attempts.
 *
 * The admin, or a tenant key holding `nexus:provisioning:*`. Payloads are shown with every field
 * whose name says it holds a credential replaced, and a delivery's result is never shown.
 */
import type { GatewayDeps } from '../../gateway/deps.js';
import { requireTenant } from '../../gateway/services/store.js';
import { AppError } from '../../shared/errors.js';
import type { Router } from '../../shared/http/router.js';
import type { HttpContext } from '../../shared/http/types.js';
import type { OutboxRow } from './outbox.js';

export const OUTBOX_PERMISSION = 'nexus:provisioning:*';
const BASE = '/nexus/v3/outbox';
const STATES = ['pending', 'done', 'dead'] as const;
const SECRET_KEY = /secret|passw|token|api.?key|authori[sz]ation|signing|credential|cookie/i;

/** A copy with credential-looking fields replaced, however deep. */
export function redactPayload(value: unknown, depth = 0): unknown {
  if (depth > 32 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactPayload(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k] = SECRET_KEY.test(k) ? '[redacted]' : redactPayload(v, depth + 1);
  return out;
}

function view(row: OutboxRow): Record<string, unknown> {
  return {
    id: row.id,
    kind: row.kind,
    target: row.target,
    orderingKey: row.orderingKey,
    state: row.state,
    attempts: row.attempts,
    maxAttempts: row.maxAttempts,
    nextAttemptAt: row.state === 'pending' ? row.nextAttemptAt : null,
    lastError: row.lastError,
    payload: redactPayload(row.payload),
    createdAt: row.createdAt,
    deliveredAt: row.deliveredAt,
  };
}

export function outboxRoutes(router: Router, deps: GatewayDeps): void {
  const access = async (ctx: HttpContext): Promise<string> => {
    const ccid = ctx.params.ccid;
    if (!ccid || ccid.length > 128)
      throw new AppError('VALIDATION_FAILED', 'ccid must be 1-128 characters.', { field: 'ccid' });
    await deps.auth.require(ctx, { permission: OUTBOX_PERMISSION, ccid });
    await requireTenant(deps.db, ccid);
    return ccid;
  };

  router.get(`${BASE}/:ccid`, async (ctx) => {
    const ccid = await access(ctx);
    const state = ctx.query.get('state') ?? undefined;
    if (state !== undefined && !(STATES as readonly string[]).includes(state))
      throw new AppError('VALIDATION_FAILED', `state must be one of ${STATES.join(', ')}.`, {
        field: 'state',
      });
    const limitText = ctx.query.get('limit');
    const limit = limitText === null ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new AppError('VALIDATION_FAILED', 'limit must be an integer from 1 to 1000.', { field: 'limit' });
    const rows = await deps.plugins.outbox.list(ccid, state as OutboxRow['state'] | undefined, limit);
    return { data: { entries: rows.map(view) } };
  });

  router.post(`${BASE}/:ccid/:id/redrive`, async (ctx) => {
    const ccid = await access(ctx);
    const id = ctx.params.id;
    const row = await deps.plugins.outbox.redrive(ccid, id);
    if (row) return { data: view(row) };
    // Tell a delivered entry from one that is not there (or is another tenant's).
    const existing = await deps.plugins.outbox.get(ccid, id);
    if (existing) throw new AppError('OUTBOX_ENTRY_DELIVERED', undefined, { id });
    throw new AppError('OUTBOX_ENTRY_NOT_FOUND', undefined, { id });
  });
}
