/** The /ux routes over HTTP: what they serve, with which headers, and what they refuse. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { buildBundles } from './build.js';

describe.each(engines())('/ux routes (%s)', (engine) => {
  let t: TestNexus;

  beforeAll(async () => {
    t = await startNexus({
      engine,
      nexus: {
        ux: {
          frameAncestors: 'https://wwe.example.com https://*.desk.example.org',
          parentOrigins: 'https://wwe.example.com',
          assetsDir: buildBundles(),
        },
      },
    });
  }, 60_000);

  afterAll(async () => {
    await t?.cleanup();
  });

  it('serves the widget to any site, cacheable, revalidated by ETag', async () => {
    const r = await fetch(`${t.url}/ux/widget.js`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(r.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    const etag = r.headers.get('etag')!;
    expect(etag).toBeTruthy();
    const body = await r.text();
    expect(body).toContain('Nexus');
    expect(body.length).toBeLessThan(120_000);
    const again = await fetch(`${t.url}/ux/widget.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  it('serves the console with the configured frame-ancestors and parent origins', async () => {
    const r = await fetch(`${t.url}/ux/comm?customername=Acme&ccid=x`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(r.headers.get('content-security-policy')).toContain('frame-ancestors https://wwe.example.com');
    const html = await r.text();
    expect(html).toContain('content="https://wwe.example.com"');
    // Nothing from the query is reflected into the page.
    const xss = await fetch(`${t.url}/ux/comm?customername=%3Cscript%3Ealert(1)%3C/script%3E`);
    expect(await xss.text()).not.toContain('alert(1)');
  });

  it('lists a parentorigin as a token sender only when frame-ancestors names it', async () => {
    const meta = async (q: string) => {
      const html = await (await fetch(`${t.url}/ux/comm?customername=Acme&ccid=x&${q}`)).text();
      return /name="nexus-parent-origins" content="([^"]*)"/.exec(html)?.[1];
    };
    expect(await meta('parentorigin=https%3A%2F%2Feu.desk.example.org%2Fdesktop')).toBe(
      'https://wwe.example.com,https://eu.desk.example.org',
    );
    // A page that names itself is not taken at its word.
    expect(await meta('parentorigin=https%3A%2F%2Fevil.example')).toBe('https://wwe.example.com');
    expect(await meta('parentorigin=%22%3E%3Cscript%3E')).toBe('https://wwe.example.com');
  });

  it('answers the conversation page without an iid with a 400 that names the field', async () => {
    const r = await api(t.url, 'GET', '/ux/conv?customername=Acme');
    expect(r.status).toBe(400);
    expect(r.body.status).toMatchObject({ name: 'VALIDATION_FAILED', details: { field: 'iid' } });
    const long = await api(t.url, 'GET', `/ux/conv?iid=${'x'.repeat(300)}`);
    expect(long.status).toBe(400);
    const ok = await fetch(`${t.url}/ux/conv?iid=abc&customername=Acme&ccid=x`);
    expect(ok.status).toBe(200);
  });

  it('serves only known assets: an unknown name or a path out of the folder is a 404', async () => {
    expect((await fetch(`${t.url}/ux/assets/console.css`)).status).toBe(200);
    for (const path of [
      '/ux/assets/nope.js',
      '/ux/assets/..%2F..%2Fpackage.json',
      '/ux/assets/%2e%2e',
      '/ux/assets/toString',
    ]) {
      const r = await api(t.url, 'GET', path);
      expect(r.status, path).toBe(404);
      expect(r.body.status.name, path).toBe('NOT_FOUND');
    }
  });

  it('answers UX_NOT_BUILT (503) when the bundles are missing, and keeps serving the rest', async () => {
    const bare = await startNexus({
      engine: 'embedded',
      nexus: { ux: { assetsDir: '/nonexistent/nexus-web' } },
    });
    try {
      for (const path of ['/ux/widget.js', '/ux/comm', '/ux/assets/console.js']) {
        const r = await api(bare.url, 'GET', path);
        expect(r.status, path).toBe(503);
        expect(r.body.status.code, path).toBe(4200);
      }
      expect((await fetch(`${bare.url}/health/live`)).status).toBe(200);
    } finally {
      await bare.cleanup();
    }
  });

  it('has the demo on by default on the embedded defaults only', async () => {
    const r = await fetch(`${t.url}/ux/demo`);
    expect(r.status).toBe(engine === 'embedded' ? 200 : 404);
  });
});

describe.each(engines())('the demo shop (%s)', (engine) => {
  let t: TestNexus;

  beforeAll(async () => {
    t = await startNexus({ engine, nexus: { ux: { demo: 'on', assetsDir: buildBundles() } } });
  }, 60_000);

  afterAll(async () => {
    await t?.cleanup();
  });

  it('puts a key in the demo shop that opens chats and nothing else', async () => {
    const site = await fetch(`${t.url}/ux/demo/site`);
    expect(site.status).toBe(200);
    const key = /data-api-key="([^"]+)"/.exec(await site.text())?.[1] ?? '';
    expect(key).toMatch(/^[0-9a-f-]{36}$/);
    const chat = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
      headers: { 'x-api-key': key },
      json: { data: { firstName: 'Jamie', endpoint: 'web' } },
    });
    expect(chat.status, JSON.stringify(chat.body)).toBeLessThan(300);
    const { ccid } = (await api(t.url, 'POST', '/ux/demo/session', { headers: { origin: t.url }, json: {} }))
      .body.data;
    for (const [method, path] of [
      ['GET', '/nexus/v3/interactions?state=queued'],
      ['GET', `/nexus/v3/provisioning/services/${ccid}`],
      ['PUT', `/nexus/v3/provisioning/endpoints/${ccid}/web`],
    ] as const) {
      const r = await api(t.url, method, path, {
        headers: { 'x-api-key': key },
        ...(method === 'PUT' ? { json: { queue: 'x' } } : {}),
      });
      expect(r.status, `${method} ${path}`).toBe(403);
    }
  });
});
