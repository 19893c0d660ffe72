import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy, pageHeaders, parseSourceList } from './headers.js';

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
