import { describe, expect, it } from 'vitest';
import { consolePage, demoPage, demoSitePage, escapeHtml } from './pages.js';

const INLINE = /<script>(?!<\/script>)|<script(?![^>]*\ssrc=)[^>]*>|<style|\sstyle=|\son\w+=/;

describe('ux pages', () => {
  it('escape what they embed', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
  });

  it('carry no inline script or style, so the strict CSP holds', () => {
    for (const html of [
      consolePage('comm', ''),
      consolePage('conv', 'https://wwe.example.com'),
      demoPage(),
      demoSitePage({ apiKey: 'k', endpoint: 'web' }),
    ]) {
      expect(html).not.toMatch(INLINE);
      expect(html).toMatch(/<script src="\/ux\/[^"]+"/);
    }
  });

  it('give the console its allowed parent origins as data, escaped', () => {
    const html = consolePage('comm', 'https://a.example,"><script>alert(1)</script>');
    expect(html).toContain(
      '<meta name="nexus-parent-origins" content="https://a.example,&quot;&gt;&lt;script&gt;',
    );
    expect(html).not.toContain('<script>alert(1)');
    expect(html).toContain('data-view="comm"');
  });

  it('embed the widget on the demo site with the escaped key', () => {
    const html = demoSitePage({ apiKey: 'a"b', endpoint: 'web' });
    expect(html).toContain('src="/ux/widget.js" data-api-key="a&quot;b" data-endpoint="web"');
  });
});
