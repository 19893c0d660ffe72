/**
 * How the console gets its agent token without third-party cookies (it lives in an iframe of the
 * agent desktop, on another site):
 *
 * 1. The console posts `{ type: 'nexus:ready' }` to its parent frame.
 * 2. The parent answers `{ type: 'nexus:token', token }`. The console accepts it only from its own
 *    parent window and from an allowed origin: its own, or one the gateway lists in the page's
 *    `nexus-parent-origins` meta (`nexus.ux.parentOrigins`, and the `parentorigin` the desktop put in
 *    the console's URL when `nexus.ux.frameAncestors` names it: the gateway checks, not the page).
 * 3. The parent may send a fresh token the same way at any time (rotation); `{ type: 'nexus:logout' }`
 *    signs the console out.
 *
 * Without a parent (or before it answers) the console shows a form where the agent pastes a token.
 * The token is kept in sessionStorage (this tab only), never in a URL or a cookie, and never posted
 * back to any frame.
 */

const KEY = 'nexus.agent.token';

export interface TokenSource {
  /** Called with each token received (the first, then rotations); `undefined` on logout. */
  onToken(fn: (token: string | undefined) => void): void;
  save(token: string): void;
  clear(): void;
  stored(): string | undefined;
}

export function allowedOrigins(meta: string | null | undefined, self: string): Set<string> {
  const list = new Set<string>([self]);
  for (const o of (meta ?? '').split(',')) if (o.trim()) list.add(o.trim());
  return list;
}

export function tokenSource(storage: Storage | null, origins: Set<string>): TokenSource {
  const listeners: Array<(t: string | undefined) => void> = [];
  const notify = (t: string | undefined) => {
    for (const fn of listeners) fn(t);
  };
  const src: TokenSource = {
    onToken: (fn) => listeners.push(fn),
    save(token) {
      try {
        storage?.setItem(KEY, token);
      } catch {
        // kept in memory only
      }
      notify(token);
    },
    clear() {
      try {
        storage?.removeItem(KEY);
      } catch {
        // nothing stored
      }
      notify(undefined);
    },
    stored() {
      try {
        return storage?.getItem(KEY) ?? undefined;
      } catch {
        return undefined;
      }
    },
  };

  if (window.parent !== window) {
    window.addEventListener('message', (e: MessageEvent) => {
      if (e.source !== window.parent) return;
      if (!origins.has('*') && !origins.has(e.origin)) return;
      const d = e.data as { type?: unknown; token?: unknown } | null;
      if (!d || typeof d !== 'object') return;
      if (
        d.type === 'nexus:token' &&
        typeof d.token === 'string' &&
        d.token.length > 0 &&
        d.token.length < 8192
      ) {
        src.save(d.token);
      } else if (d.type === 'nexus:logout') {
        src.clear();
      }
    });
    // The ready signal carries nothing secret, so it may go to whatever origin the parent has.
    window.parent.postMessage({ type: 'nexus:ready', view: document.body.dataset.view }, '*');
  }
  return src;
}
