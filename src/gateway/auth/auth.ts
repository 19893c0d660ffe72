/** Authentication and authorization: see types.ts for the contract. */
import { timingSafeEqual } from 'node:crypto';
import type { NexusConfig } from '../../shared/config.js';
import type { Database } from '../../shared/db/pool.js';
import { AppError } from '../../shared/errors.js';
import type { HttpContext } from '../../shared/http/types.js';
import type { Logger } from '../../shared/logger.js';
import type { Registry } from '../../shared/metrics.js';
import type { SharedState } from '../../shared/state/types.js';
import type { Access, AccessRule, Auth } from './types.js';

export type { Access, AccessRule, Auth, Principal } from './types.js';

export interface AuthDeps {
  db: Database;
  state: SharedState;
  adminToken: string;
  config: NexusConfig;
  log: Logger;
  registry: Registry;
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createAuth(deps: AuthDeps): Auth {
  return {
    async require(ctx: HttpContext, rule: AccessRule): Promise<Access> {
      const header = ctx.headers.authorization;
      if (header && rule.admin !== false) {
        const token = header.replace(/^Bearer\s+/i, '').trim();
        if (deps.adminToken && safeEqual(token, deps.adminToken)) {
          return { principal: { kind: 'admin', subject: 'admin', tenant: '*', permissions: ['*'] }, ccid: rule.ccid ?? ctx.headers['x-ccid'] ?? '*' };
        }
        throw new AppError('INVALID_TOKEN');
      }
      throw new AppError('UNAUTHENTICATED');
    },
  };
}
