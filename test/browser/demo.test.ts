/**
 * /ux/demo in real Chromium: it provisions its demo tenant through the gateway's own REST routes,
 * hands the agent token to the framed console by the postMessage handshake, and a conversation runs
 * between the two panes. It is off unless `nexus.ux.demo` allows it. A screenshot is written to
 * the test's temp dir; with UPDATE_SCREENSHOTS=1 it also replaces docs/img/demo.png.
 */
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { buildBundles } from './build.js';
import { type Browser, launchChromium } from './chromium.js';
import { consoleTranscript, widgetTranscript } from './fixtures.js';

describe.each(engines())('the demo page (%s)', (engine) => {
  let t: TestNexus;
  let browser: Browser;

  beforeAll(async () => {
    t = await startNexus({ engine, nexus: { ux: { demo: 'on', assetsDir: buildBundles() } } });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await t?.cleanup();
  });

  it('shows the widget and the agent console side by side, talking to each other', async () => {
    const page = await browser.context.newPage();
    const csp: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) csp.push(m.text());
    });
    await page.setViewportSize({ width: 1440, height: 940 });
    const res = await page.goto(`${t.url}/ux/demo`);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.getByText(/Demo tenant Northwind Outfitters/).waitFor({ timeout: 20_000 });

    const agent = page.frameLocator('iframe[title^="Agent"]');
    await agent.locator('.conn[data-state="live"]').waitFor({ timeout: 20_000 });
    await agent.getByRole('switch').click();
    await agent.locator('[role="switch"][aria-checked="true"]').waitFor();

    const site = page.frameLocator('iframe[title^="Customer"]');
    await site.getByRole('button', { name: 'Chat with us' }).click();
    const box = site.getByRole('textbox', { name: 'Your message' });
    await box.fill('Hi! Does the Ridgeline Shell run true to size?');
    await box.press('Enter');
    await expect
      .poll(() => consoleTranscript(agent), { timeout: 20_000 })
      .toContain('Hi! Does the Ridgeline Shell run true to size?');
    const reply = agent.getByRole('textbox', { name: 'Reply to the customer' });
    await reply.fill('It does! If you are between sizes, most customers size up for layering.');
    await reply.press('Enter');
    await agent.getByLabel('Internal note (agents only)').check();
    await reply.fill('Customer browsing the Ridgeline Shell; offer the size guide');
    await reply.press('Enter');
    await box.fill('Great, thanks. I will take an M.');
    await box.press('Enter');

    await expect
      .poll(() => widgetTranscript(site), { timeout: 20_000 })
      .toEqual([
        'Hi! Does the Ridgeline Shell run true to size?',
        'It does! If you are between sizes, most customers size up for layering.',
        'Great, thanks. I will take an M.',
      ]);
    await expect.poll(() => consoleTranscript(agent)).toContain('Great, thanks. I will take an M.');
    expect(csp).toEqual([]);

    const dir = mkdtempSync(join(tmpdir(), 'nexus-demo-shot-'));
    const shot = join(dir, 'demo.png');
    await page.screenshot({ path: shot });
    process.stdout.write(`demo screenshot: ${shot}\n`);
    if (process.env.UPDATE_SCREENSHOTS === '1' && engine === 'embedded') {
      const out = join(import.meta.dirname, '..', '..', 'docs', 'img');
      mkdirSync(out, { recursive: true });
      copyFileSync(shot, join(out, 'demo.png'));
    }
    await page.close();
  }, 120_000);

  it('gives the demo session only to its own page', async () => {
    const cross = await api(t.url, 'POST', '/ux/demo/session', {
      headers: { origin: 'https://evil.example' },
      json: {},
    });
    expect(cross.status).toBe(403);
    expect(cross.body.status.name).toBe('FORBIDDEN');
    const none = await api(t.url, 'POST', '/ux/demo/session', { json: {} });
    expect(none.status).toBe(403);
  });
});

describe('the demo when it is off', () => {
  let t: TestNexus;

  beforeAll(async () => {
    t = await startNexus({ nexus: { ux: { demo: 'off', assetsDir: buildBundles() } } });
  }, 60_000);

  afterAll(async () => {
    await t?.cleanup();
  });

  it('answers 404 UX_DEMO_DISABLED on every demo route and provisions nothing', async () => {
    for (const [method, path] of [
      ['GET', '/ux/demo'],
      ['GET', '/ux/demo/site'],
      ['POST', '/ux/demo/session'],
    ] as const) {
      const r = await api(t.url, method, path, {
        headers: { origin: t.url },
        ...(method === 'POST' ? { json: {} } : {}),
      });
      expect(r.status, path).toBe(404);
      expect(r.body.status.code, path).toBe(4201);
    }
    const tenants = await t.nexus.db.query('SELECT count(*)::int AS n FROM tenants');
    expect(tenants.rows[0].n).toBe(0);
  });
});
