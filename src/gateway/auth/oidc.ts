/**
 * Admin credentials as JWTs from one configured OIDC issuer. The JWKS comes from `jwksUri`, or from
 * the issuer's discovery document; jose's remote key set caches the keys and refetches (rate
 * limited) when a token names a key id it does not hold, which is how issuers rotate keys.
 */
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import { AppError } from '../../shared/errors.js';

export interface OidcConfig {
  issuer: string;
  jwksUri: string;
  audience: string;
}

export interface OidcVerifier {
  /** The token's subject when it verifies; throws INVALID_TOKEN when it does not. */
  verify(token: string): Promise<{ subject: string }>;
}

const FETCH_TIMEOUT_MS = 5000;
/** Signature algorithms an issuer may use; `none` and HMAC are never accepted. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** A compact JWS has three base64url parts; anything else is not for this verifier. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

async function discoverJwksUri(issuer: string): Promise<string> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`OIDC discovery answered HTTP ${res.status}`);
  const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
  // The discovery document must be the issuer's own (OpenID Connect Discovery §4.3).
  if (doc.issuer !== issuer) throw new Error('OIDC discovery names another issuer');
  if (typeof doc.jwks_uri !== 'string') throw new Error('OIDC discovery has no jwks_uri');
  return doc.jwks_uri;
}

export function createOidcVerifier(cfg: OidcConfig): OidcVerifier {
  let keySet: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  const getKeySet = () => {
    keySet ??= (cfg.jwksUri ? Promise.resolve(cfg.jwksUri) : discoverJwksUri(cfg.issuer)).then((uri) =>
      createRemoteJWKSet(new URL(uri), { timeoutDuration: FETCH_TIMEOUT_MS }),
    );
    // A failed discovery is retried by the next request rather than remembered.
    keySet.catch(() => {
      keySet = undefined;
    });
    return keySet;
  };

  return {
    async verify(token) {
      let jwks: ReturnType<typeof createRemoteJWKSet>;
      try {
        jwks = await getKeySet();
      } catch (err) {
        throw new AppError(
          'UNAVAILABLE',
          'The OIDC issuer cannot be reached to verify the token.',
          undefined,
          {
            cause: err,
          },
        );
      }
      try {
        const { payload } = await jwtVerify(token, jwks, {
          issuer: cfg.issuer,
          audience: cfg.audience || undefined,
          algorithms: ALGORITHMS,
          requiredClaims: ['exp', 'sub'],
        });
        return { subject: String(payload.sub) };
      } catch (err) {
        // A key set that cannot be fetched is the issuer's outage, not a bad token.
        const outage =
          !(err instanceof joseErrors.JOSEError) ||
          err instanceof joseErrors.JWKSTimeout ||
          err instanceof joseErrors.JWKSInvalid;
        if (outage) {
          throw new AppError(
            'UNAVAILABLE',
            'The OIDC issuer cannot be reached to verify the token.',
            undefined,
            {
              cause: err,
            },
          );
        }
        throw new AppError('INVALID_TOKEN', undefined, undefined, { cause: err });
      }
    },
  };
}
