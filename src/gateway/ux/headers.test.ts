import { describe, expect, it } from 'vitest';
import {
  contentSecurityPolicy,
  namedBySourceList,
  pageHeaders,
  parseSourceList,
  tokenSenders,
} from './headers.js';

describe('ux security headers', () => {
  it('allows scripts, styles and connections from the gateway only, never inline', () => {
    const csp = contentSecurityPolicy('*');
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("connect-src 'self' ws: wss:");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toContain('frame-ancestors *');
    expect(csp).not.toMatch(/unsafe-(inline|eval)/);
  });

  it('sends nosniff, no-referrer and no-store with every page', () => {
    const h = pageHeaders("'self'");
    expect(h['x-content-type-options']).toBe('nosniff');
    expect(h['referrer-policy']).toBe('no-referrer');
    expect(h['cache-control']).toBe('no-store');
    expect(h['content-security-policy']).toContain("frame-ancestors 'self'");
  });

  it('takes frame-ancestors sources from config and refuses what would break out of the directive', () => {
    expect(parseSourceList('  https://wwe.example.com   https://*.example.org ', 'k')).toBe(
      'https://wwe.example.com https://*.example.org',
    );
    expect(parseSourceList("'none'", 'k')).toBe("'none'");
    expect(parseSourceList("'self' https://a.example", 'k')).toBe("'self' https://a.example");
    expect(() => parseSourceList('', 'nexus.ux.frameAncestors')).toThrow(/nexus.ux.frameAncestors/);
    expect(() => parseSourceList("*; script-src 'unsafe-inline'", 'k')).toThrow(/not a valid CSP source/);
    expect(() => parseSourceList('https://a.example,https://b.example', 'k')).toThrow();
    expect(() => parseSourceList('https://a.example\u0000', 'k')).toThrow();
  });
});

describe('who may hand the console its agent token', () => {
  it('matches an origin against the host sources of frame-ancestors, as CSP does', () => {
    const list = "'self' https://desk.example.com https://*.agents.example.org:8443 http://127.0.0.1:*";
    expect(namedBySourceList('https://desk.example.com', list)).toBe(true);
    expect(namedBySourceList('https://desk.example.com:443', list)).toBe(true);
    expect(namedBySourceList('https://desk.example.com:8443', list)).toBe(false);
    expect(namedBySourceList('http://desk.example.com', list)).toBe(false);
    expect(namedBySourceList('https://evil-desk.example.com', list)).toBe(false);
    expect(namedBySourceList('https://desk.example.com.evil.test', list)).toBe(false);
    expect(namedBySourceList('https://eu.agents.example.org:8443', list)).toBe(true);
    expect(namedBySourceList('https://agents.example.org:8443', list)).toBe(false);
    expect(namedBySourceList('https://eu.agents.example.org', list)).toBe(false);
    expect(namedBySourceList('http://127.0.0.1:41234', list)).toBe(true);
    // http sources also match their https upgrade; a source without a scheme matches both.
    expect(namedBySourceList('https://127.0.0.1:41234', list)).toBe(true);
    expect(namedBySourceList('http://desk.example.net', 'desk.example.net')).toBe(true);
    expect(namedBySourceList('https://desk.example.net', 'desk.example.net')).toBe(true);
  });

  it('names nobody through *, scheme sources or keywords', () => {
    for (const list of ['*', 'https:', "'self'", "'none'", 'https://*']) {
      expect(namedBySourceList('https://evil.example', list), list).toBe(false);
    }
    expect(namedBySourceList('javascript:alert(1)', '*')).toBe(false);
    expect(namedBySourceList('not an origin', 'https://desk.example.com')).toBe(false);
  });

  it('takes the configured origins and a parentorigin only where frame-ancestors names it', () => {
    const fa = 'https://desk.example.com';
    expect(tokenSenders('', fa, ['https://desk.example.com/some/path?x=1'])).toEqual([
      'https://desk.example.com',
    ]);
    expect(tokenSenders('', fa, ['https://evil.example'])).toEqual([]);
    expect(tokenSenders('', '*', ['https://evil.example'])).toEqual([]);
    expect(tokenSenders(' https://wwe.example.com , ', fa, ['nonsense', 'https://evil.example'])).toEqual([
      'https://wwe.example.com',
    ]);
  });
});
