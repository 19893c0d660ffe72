/**
 * The HTML shells of the /ux pages. They hold no inline script or style (the CSP forbids both) and
 * reflect nothing from the query string but the origins the gateway validated (escaped): the
 * bundles read the query themselves and render it as text, so no request can inject markup.
 */

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function shell(opts: {
  title: string;
  view: string;
  css: string[];
  scripts: string[];
  meta?: Record<string, string>;
  body?: string;
}): string {
  const meta = Object.entries(opts.meta ?? {})
    .map(([k, v]) => `<meta name="${escapeHtml(k)}" content="${escapeHtml(v)}">`)
    .join('\n    ');
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>${escapeHtml(opts.title)}</title>
    ${meta}
    ${opts.css.map((c) => `<link rel="stylesheet" href="${escapeHtml(c)}">`).join('\n    ')}
  </head>
  <body data-view="${escapeHtml(opts.view)}">
    ${opts.body ?? '<div id="app"><p class="boot">Loading…</p></div>'}
    ${opts.scripts.map((s) => s).join('\n    ')}
  </body>
</html>
`;
}

/** The agent console: `comm` (the agent's conversations) or `conv` (one conversation). */
export function consolePage(view: 'comm' | 'conv', parentOrigins: string): string {
  return shell({
    title: view === 'comm' ? 'Communication · Nexus' : 'Conversation · Nexus',
    view,
    css: ['/ux/assets/console.css'],
    scripts: ['<script src="/ux/assets/console.js" defer></script>'],
    meta: { 'nexus-parent-origins': parentOrigins },
  });
}

export function demoPage(): string {
  return shell({
    title: 'Nexus · live demo: widget and agent console',
    view: 'demo',
    css: ['/ux/assets/demo.css'],
    scripts: ['<script src="/ux/assets/demo.js" defer></script>'],
    body: '<div id="app"></div>',
  });
}

/** A stand-in for a customer's web site: the widget embedded exactly as a site would embed it. */
export function demoSitePage(widget: { apiKey: string; endpoint: string }): string {
  const attrs = `data-api-key="${escapeHtml(widget.apiKey)}" data-endpoint="${escapeHtml(widget.endpoint)}" data-title="Northwind support" data-subtitle="Typically replies in a minute" data-first-name="Jamie" data-last-name="Chen"`;
  return shell({
    title: 'Northwind Outfitters',
    view: 'site',
    css: ['/ux/assets/site.css'],
    scripts: [`<script src="/ux/widget.js" ${attrs} defer></script>`],
    body: `<header class="site-head"><span class="logo">Northwind <b>Outfitters</b></span><nav aria-label="Shop"><a href="#">Jackets</a><a href="#">Boots</a><a href="#">Packs</a></nav></header>
    <main class="site-main">
      <section class="hero">
        <p class="kicker">Autumn collection</p>
        <h1>Built for the long way round.</h1>
        <p>Waterproof shells, boots that break in on day one, and packs that carry what you need. Questions about sizing or an order? Chat with us: the bubble in the corner.</p>
        <a class="cta" href="#">Shop jackets</a>
      </section>
      <section class="cards" aria-label="Featured">
        <article><div class="swatch a"></div><h2>Ridgeline Shell</h2><p>€189</p></article>
        <article><div class="swatch b"></div><h2>Tarn Boot</h2><p>€149</p></article>
        <article><div class="swatch c"></div><h2>Fjell 28 Pack</h2><p>€99</p></article>
      </section>
    </main>`,
  });
}
