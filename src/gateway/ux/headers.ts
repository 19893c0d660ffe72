/**
 * Security headers of the /ux pages. The pages carry no inline script or style, so the policy can
 * be strict; only `frame-ancestors` varies, because the agent console lives in the agent desktop's
 * iframe, whose origin the operator knows (default `'self'`: nobody else may frame it).
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
    "img-src 'self' data: blob:",
    // The widget plays the customer's own voice message from its recording (a blob: URL).
    "media-src 'self' blob:",
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

/**
 * Whether `origin` is named by a host source of a CSP source list (`https://desk.example.com`,
 * `https://*.example.com`, `desk.example.com:8443`, `https://desk.example.com:*`). The bare `*`,
 * scheme sources (`https:`) and keywords name no one in particular, so they match nothing here: an
 * operator who lets anyone frame the console has not said whom to take an agent token from.
 */
export function namedBySourceList(origin: string, sources: string): boolean {
  let o: URL;
  try {
    o = new URL(origin);
  } catch {
    return false;
  }
  const scheme = o.protocol.slice(0, -1);
  if (scheme !== 'http' && scheme !== 'https') return false;
  const port = o.port || (scheme === 'https' ? '443' : '80');
  for (const source of sources.split(/\s+/)) {
    const m =
      /^(?:([a-z][a-z0-9+.-]*):\/\/)?((?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(\d{1,5}|\*))?(?:\/.*)?$/i.exec(
        source,
      );
    if (!m) continue;
    const [, srcScheme, host, srcPort] = m;
    const s = srcScheme?.toLowerCase();
    // A source without a scheme, or with http, also matches https (CSP's upgrade rule).
    if (s ? !(s === scheme || (s === 'http' && scheme === 'https')) : false) continue;
    const h = host.toLowerCase();
    const hostOk = h.startsWith('*.') ? o.hostname.endsWith(h.slice(1)) : o.hostname === h;
    if (!hostOk) continue;
    const defaultPort = (s ?? scheme) === 'https' ? '443' : '80';
    if (srcPort === '*' || (srcPort ?? defaultPort) === port || (!srcPort && s === 'http' && port === '443'))
      return true;
  }
  return false;
}

/**
 * The origins the console takes its agent token from besides its own: the operator's list, and
 * each `parentorigin` the desktop put in the console's URL that frame-ancestors names (a page that
 * may frame the console anyway). Any other `parentorigin` is dropped, so a page that frames the
 * console cannot make itself a token sender by naming itself.
 */
export function tokenSenders(configured: string, frameAncestors: string, requested: string[]): string[] {
  const out = new Set<string>();
  for (const o of configured.split(',')) if (o.trim()) out.add(o.trim());
  for (const r of requested) {
    let origin: string;
    try {
      origin = new URL(r).origin;
    } catch {
      continue;
    }
    if (namedBySourceList(origin, frameAncestors)) out.add(origin);
  }
  return [...out];
}
