import type { HttpContext } from '../../shared/http/types.js';

/** Who made a request, after authentication. */
export interface Principal {
  kind: 'admin' | 'apikey';
  /** For `createdby` and logs: `admin`, the OIDC subject, or `apikey:<keyId>`. */
  subject: string;
  /**
   * The tenant (ccid) the credential belongs to, or `*` for credentials over every tenant (the
   * admin token, OIDC, a scope-`*` token, cluster keys). An admin credential of one tenant (a
   * tenant user's token) acts only on that tenant.
   */
  tenant: string;
  permissions: string[];
  keyId?: string;
}

export interface Access {
  principal: Principal;
  /** The tenant the request acts on (route ccid, x-ccid, or the key's own tenant). */
  ccid: string;
}

export interface AccessRule {
  /** Permission the API key must hold (`*` matches segments). Admin credentials hold all. */
  permission: string;
  /** The ccid named by the route, if any: the credential must be allowed that tenant. */
  ccid?: string;
  /** Accept the admin bearer token (OIDC, introspection) as well as API keys. Default true. */
  admin?: boolean;
  /** Accept API keys. Default true. */
  apiKey?: boolean;
  /** Only a credential over every tenant (not a tenant user's token). Default false. */
  cluster?: boolean;
}

export interface Auth {
  /**
   * Authenticates the request (admin bearer in `Authorization`, with or without `Bearer `, or
   * `x-api-key`), checks the permission and the tenant, applies the key's rate limit (adds the
   * RateLimit-* headers to `ctx.state.responseHeaders`), and throws an AppError when refused.
   */
  require(ctx: HttpContext, rule: AccessRule): Promise<Access>;
}
