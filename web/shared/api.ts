/** REST calls to the gateway: the `{ status, data, operationId }` envelope in, typed errors out. */
import type { ErrorBody } from '../../src/gateway/chat/events.js';

export class ApiError extends Error {
  constructor(
    readonly http: number,
    readonly body: ErrorBody,
  ) {
    super(body.message);
    this.name = 'ApiError';
  }

  /** Worth trying again later: the network, a rate limit, a node going away. */
  get retryable(): boolean {
    return this.body.retryable || this.http === 429 || this.http >= 500 || this.http === 0;
  }
}

export async function call<T = any>(
  url: string,
  init: { method: string; headers?: Record<string, string>; form?: Record<string, string>; json?: unknown },
): Promise<T> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  let body: string | undefined;
  if (init.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(init.form).toString();
  } else if (init.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.json);
  }
  let res: Response;
  try {
    // No cookies: credentials travel in headers only, so nothing depends on third-party cookies.
    res = await fetch(url, { method: init.method, headers, body, credentials: 'omit', cache: 'no-store' });
  } catch (err) {
    throw new ApiError(0, {
      code: 0,
      name: 'NETWORK',
      message: (err as Error).message || 'network error',
      retryable: true,
    });
  }
  let parsed: any;
  try {
    parsed = await res.json();
  } catch {
    parsed = undefined;
  }
  const status = parsed?.status;
  if (!res.ok || (status && status.code !== 0)) {
    throw new ApiError(res.status, {
      code: Number(status?.code ?? res.status),
      name: String(status?.name ?? 'HTTP_ERROR'),
      message: String(status?.message ?? `HTTP ${res.status}`),
      retryable: res.status === 429 || res.status >= 500,
    });
  }
  return (parsed?.data ?? parsed) as T;
}

/** A token's claims, for display only (the server verifies; the browser never trusts them). */
export function peekJwt(token: string): Record<string, unknown> | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const json = atob(
      part
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(part.length / 4) * 4, '='),
    );
    return JSON.parse(decodeURIComponent(escape(json)));
  } catch {
    return undefined;
  }
}
