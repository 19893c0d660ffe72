/**
 * Security headers of the /ux pages. The pages carry no inline script or style, so the policy can
 * be strict; only `frame-ancestors` varies, because the agent console lives in the agent desktop's
 * iframe, whose origin the operator knows.
 */

/** A CSP source list from config; refuses what would break out of the directive. */
export function parseSourceList(value: string, key: string): string {
  const list = value.trim().split(/\s+/).filter(Boolean);
  if (list.length === 0)
    throw new Error(`${key} must name at least one source (use 'none' to forbid framing)`);
  for (const s of list) {
    if (
      /[;,'"\\]/.test(s.replace(/^'(none|self)'$/, 'x')) ||
      [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)
    ) {
      throw new Error(`${key}: "${s}" is not a valid CSP source`);
    }
  }
  return list.join(' ');
}

export function contentSecurityPolicy(frameAncestors: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self' ws: wss:",
    "frame-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    `frame-ancestors ${frameAncestors}`,
  ].join('; ');
}

export function pageHeaders(frameAncestors: string): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(frameAncestors),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
    'cross-origin-opener-policy': 'same-origin',
  };
}
