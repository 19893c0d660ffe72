/**
 * Authentication and authorization: see types.ts for the contract and docs/permissions.md for the
 * permission catalog.
 *
 * - `Authorization: [Bearer ]<token>`: an admin credential, which may act on any tenant. It is the
 *   configured admin token, a JWT of the configured OIDC issuer, or a token an OAuth2 server
 *   confirms by introspection (tried in that order, each only when configured).
 * - `x-api-key: <key>`: the key's permissions for its tenant (a ccid), or for the tenant named by
 *   the route or `x-ccid` when the key is a cluster key (tenant `*`). Each key has its own rate limit.
 *
 * When both headers are sent and the route accepts keys, the key decides: widgets and routers that
 * send a key are limited by it whatever else they carry.
 */
import { timingSafeEqual } from 'node:crypto';
import type { NexusConfig } from '../../shared/config.js';
import type { Database } from '../../shared/db/pool.js';
import { AppError } from '../../shared/errors.js';
import type { HttpContext } from '../../shared/http/types.js';
import type { Logger } from '../../shared/logger.js';
import { counter, type Registry } from '../../shared/metrics.js';
import type { SharedState } from '../../shared/state/types.js';
import { ApiKeyStore, unusableReason } from './api-keys.js';
import { createIntrospector } from './introspection.js';
import { createOidcVerifier, looksLikeJwt } from './oidc.js';
import { hasPermission } from './permissions.js';
import { applyKeyRateLimit } from './rate-limit.js';
import type { Access, AccessRule, Auth, Principal } from './types.js';

export type { Access, AccessRule, Auth, Principal } from './types.js';

export interface AuthDeps {
  db: Database;
  state: SharedState;
  adminToken: string;
  config: NexusConfig;
  log: Logger;
  registry: Registry;
}

/** A tenant id (ccid): what fits in a URL segment, a header and a log line. */
export const CCID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function isValidCcid(ccid: string): boolean {
  return CCID_RE.test(ccid);
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  // Compare equal-length buffers so that the time does not reveal the admin token's length.
  if (x.length !== y.length) {
    timingSafeEqual(y, y);
    return false;
  }
  return timingSafeEqual(x, y);
}

/** `Authorization: Bearer <t>` and `Authorization: <t>` both carry `<t>` (the guide shows both). */
export function bearerToken(header: string): string {
  return header.replace(/^Bearer\s+/i, '').trim();
}

/** Longest credential looked at; anything longer is refused without work. */
const MAX_CREDENTIAL = 8192;

/** The tenant of a `<ccid>\\<user>` user name (how the suite's auth service names tenant users). */
export function tenantOfUser(name: string): string | undefined {
  const i = name.indexOf('\\');
  if (i <= 0 || i === name.length - 1) return undefined;
  const ccid = name.slice(0, i);
  return isValidCcid(ccid) ? ccid : undefined;
}

export function createAuth(deps: AuthDeps): Auth {
  const keys = new ApiKeyStore(deps.db);
  const { oidc, introspection } = deps.config.auth;
  const oidcVerifier = oidc.issuer ? createOidcVerifier(oidc) : undefined;
  const introspector = introspection.url ? createIntrospector(introspection, () => deps.state.kv) : undefined;
  const refused = counter(
    deps.registry,
    'nexus_auth_refused_total',
    'Requests refused by authentication or authorization.',
    ['code'],
  );

  async function admin(token: string): Promise<Principal> {
    const principal = (subject: string): Principal => ({
      kind: 'admin',
      subject,
      tenant: '*',
      permissions: ['*'],
    });
    if (!token || token.length > MAX_CREDENTIAL) throw new AppError('INVALID_TOKEN');
    if (deps.adminToken && safeEqual(token, deps.adminToken)) return principal('admin');
    let failure: AppError | undefined;
    if (oidcVerifier && looksLikeJwt(token)) {
      try {
        return principal(`oidc:${(await oidcVerifier.verify(token)).subject}`);
      } catch (err) {
        failure = err as AppError;
      }
    }
    if (introspector) {
      const who = await introspector.verify(token);
      // The suite's auth service: the cluster admin's token has scope `*`; a tenant user's
      // (`<ccid>\\<user>`, scope "") acts on that tenant only. Any other active token is no admin.
      if (who.scopes.includes('*')) return principal(`oauth:${who.subject}`);
      const tenant = tenantOfUser(who.username ?? who.subject);
      if (tenant) return { ...principal(`oauth:${who.subject}`), tenant };
      throw new AppError(
        'FORBIDDEN',
        'The token is valid but grants no tenant: it needs scope * (every tenant) or a <ccid>\\<user> user.',
      );
    }
    throw failure ?? new AppError('INVALID_TOKEN');
  }

  function namedTenant(ctx: HttpContext, rule: AccessRule): string | undefined {
    const header = ctx.headers['x-ccid']?.trim();
    if (header && !isValidCcid(header)) {
      throw new AppError('VALIDATION_FAILED', 'x-ccid is not a valid contact center id.', {
        field: 'x-ccid',
      });
    }
    // The route names the tenant; a header that names another one is a confused or hostile client.
    if (rule.ccid !== undefined && header && header !== rule.ccid) {
      throw new AppError('TENANT_MISMATCH', 'The x-ccid header names another tenant than the path.');
    }
    return rule.ccid ?? (header || undefined);
  }

  async function withKey(ctx: HttpContext, rule: AccessRule, value: string): Promise<Access> {
    if (value.length > MAX_CREDENTIAL) throw new AppError('INVALID_API_KEY');
    const key = await keys.findByValue(value);
    if (!key) throw new AppError('INVALID_API_KEY');
    const why = unusableReason(key);
    if (why) throw new AppError('INVALID_API_KEY', `The x-api-key is ${why}.`);
    // The bucket is charged before the permission check so that probing with a key costs like using it,
    // and once per request: a route may ask again with another permission.
    if (ctx.state.rateCharged !== key.keyId) {
      ctx.state.rateCharged = key.keyId;
      await applyKeyRateLimit(deps.state.rateLimiter, ctx, key);
    }
    const principal: Principal = {
      kind: 'apikey',
      subject: `apikey:${key.keyId}`,
      tenant: key.tenant,
      permissions: key.permissions,
      keyId: key.keyId,
    };
    ctx.state.principal = principal;
    if (!hasPermission(key.permissions, rule.permission)) {
      throw new AppError('FORBIDDEN', `The API key does not hold the permission ${rule.permission}.`, {
        permission: rule.permission,
      });
    }
    const named = namedTenant(ctx, rule);
    if (key.tenant === '*') {
      if (!named) throw new AppError('CCID_REQUIRED');
      return { principal, ccid: named };
    }
    if (named !== undefined && named !== key.tenant) throw new AppError('TENANT_MISMATCH');
    if (rule.cluster) {
      throw new AppError(
        'FORBIDDEN',
        'This operation needs a credential over every tenant, not a tenant key.',
      );
    }
    return { principal, ccid: key.tenant };
  }

  async function check(ctx: HttpContext, rule: AccessRule): Promise<Access> {
    const acceptsAdmin = rule.admin !== false;
    const acceptsKey = rule.apiKey !== false;
    const apiKey = ctx.headers['x-api-key']?.trim();
    const authorization = ctx.headers.authorization;
    if (apiKey && acceptsKey) return withKey(ctx, rule, apiKey);
    if (authorization && acceptsAdmin) {
      const principal = await admin(bearerToken(authorization));
      ctx.state.principal = principal;
      const named = namedTenant(ctx, rule);
      if (principal.tenant !== '*') {
        if (rule.cluster) {
          throw new AppError(
            'FORBIDDEN',
            'This operation needs a credential over every tenant: the admin token, or a token with scope *.',
          );
        }
        if (named !== undefined && named !== principal.tenant) throw new AppError('TENANT_MISMATCH');
        return { principal, ccid: principal.tenant };
      }
      return { principal, ccid: named ?? '*' };
    }
    if (apiKey) throw new AppError('FORBIDDEN', 'This operation needs an admin credential, not an API key.');
    throw new AppError(
      'UNAUTHENTICATED',
      !acceptsAdmin
        ? 'Send an API key in the x-api-key header.'
        : !acceptsKey
          ? 'Send the admin credential in the Authorization header.'
          : undefined,
    );
  }

  return {
    async require(ctx, rule) {
      try {
        return await check(ctx, rule);
      } catch (err) {
        if (err instanceof AppError) {
          refused.inc({ code: String(err.code) });
          // Who was refused, never with what: no key or token reaches a log.
          ctx.log.debug(
            { code: err.code, keyId: (ctx.state.principal as Principal | undefined)?.keyId },
            'access refused',
          );
        }
        throw err;
      }
    },
  };
}
