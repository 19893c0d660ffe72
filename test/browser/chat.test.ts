/**
 * The browser surfaces in real Chromium, against a gateway in process: a customer writes in the
 * widget embedded on another site, the agent answers in the console framed by an "agent desktop"
 * (token by the postMessage handshake), the customer reloads mid-conversation (with a send still in
 * flight) and the transcript is whole on both sides, no loss, no duplicate; no token ever appears in
 * a URL the browser requested; the widget works from the keyboard alone; the console's CSP holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { buildBundles } from './build.js';
import { type Browser, launchChromium } from './chromium.js';
import {
  consoleTranscript,
  desktopPage,
  openFromList,
  type Provisioned,
  provision,
  readyAgent,
  shopPage,
  widgetTranscript,
} from './fixtures.js';
import { type HostServer, startHostServer } from './host-server.js';

describe.each(engines())('browser surfaces in Chromium (%s)', (engine) => {
  let t: TestNexus;
  let host: HostServer;
  let browser: Browser;
  let tenant: Provisioned;
  const requested: string[] = [];
  const cspViolations: string[] = [];

  beforeAll(async () => {
    host = await startHostServer();
    // The agent desktop's origin is the one that may frame the console.
    t = await startNexus({
      engine,
      nexus: { ux: { assetsDir: buildBundles(), frameAncestors: host.origin } },
    });
    tenant = await provision(t);
    host.page('/shop', shopPage(t.url, tenant.widgetKey));
    host.page('/desktop', desktopPage(t.url, tenant.ccid, host.origin, tenant.agentToken));
    browser = await launchChromium();
    browser.context.on('request', (r) => requested.push(r.url()));
    browser.context.on('page', (p) => {
      p.on('websocket', (ws) => requested.push(ws.url()));
      p.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
      });
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await host?.close();
    await t?.cleanup();
  });

  it('serves the console with a strict CSP and the other security headers', async () => {
    const r = await fetch(`${t.url}/ux/comm?customername=Acme&ccid=${tenant.ccid}`);
    expect(r.status).toBe(200);
    const csp = r.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self' ws: wss:");
    expect(csp).toContain(`frame-ancestors ${host.origin}`);
    expect(csp).not.toContain('unsafe-inline');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await r.text()).not.toMatch(/<script>(?!<\/script>)|<style|\sstyle=|\son\w+=/);
  });

  it('carries a conversation from the widget to the console and back, through a reload, whole', async () => {
    const agent = await readyAgent(await browser.context.newPage(), `${host.origin}/desktop`);

    const shop = await browser.context.newPage();
    await shop.goto(`${host.origin}/shop`);
    await shop.getByRole('button', { name: 'Chat with us' }).waitFor();

    // Keyboard only: Tab to the launcher, Enter opens it with focus in the composer, Enter sends.
    await shop.keyboard.press('Tab');
    await expect
      .poll(() => shop.evaluate(() => document.activeElement?.hasAttribute('data-nexus-widget')))
      .toBe(true);
    await shop.keyboard.press('Enter');
    await expect
      .poll(() =>
        shop
          .getByRole('textbox', { name: 'Your message' })
          .evaluate((el) => el === (el.getRootNode() as ShadowRoot).activeElement),
      )
      .toBe(true);
    await shop.keyboard.type('Hi, my jacket order has not arrived');
    await shop.keyboard.press('Enter');
    await expect
      .poll(() => widgetTranscript(shop), { timeout: 15_000 })
      .toContain('Hi, my jacket order has not arrived');

    // The conversation is assigned to the ready agent and opens in the console.
    await expect
      .poll(() => consoleTranscript(agent), { timeout: 20_000 })
      .toContain('Hi, my jacket order has not arrived');
    await expect(agent.locator('#conv-title').textContent()).resolves.toContain('Sam');
    const reply = agent.getByRole('textbox', { name: 'Reply to the customer' });
    await reply.fill('Sorry to hear that! Let me check the tracking for you.');
    await agent.getByRole('button', { name: 'Send', exact: true }).click();
    await expect
      .poll(() => widgetTranscript(shop), { timeout: 15_000 })
      .toContain('Sorry to hear that! Let me check the tracking for you.');

    // An internal note reaches the console, never the customer.
    await agent.getByLabel('Internal note (agents only)').check();
    await reply.fill('Carrier says delayed at the depot');
    await reply.press('Enter');
    await expect.poll(() => consoleTranscript(agent)).toContain('Carrier says delayed at the depot');

    // Mid-conversation: a send pressed right before the reload, and an agent reply while the page is away.
    await shop.getByRole('textbox', { name: 'Your message' }).fill('Order number is 4711');
    await shop.getByRole('textbox', { name: 'Your message' }).press('Enter');
    const reloading = shop.reload();
    await reply.fill('Found it: it ships tomorrow.');
    await reply.press('Enter');
    await reloading;

    const expected = [
      'Hi, my jacket order has not arrived',
      'Sorry to hear that! Let me check the tracking for you.',
      'Order number is 4711',
      'Found it: it ships tomorrow.',
    ];
    // After the reload the widget is open again and its transcript is whole, once each, in order
    // (the customer's and the agent's last messages may commit in either order).
    await expect
      .poll(async () => (await widgetTranscript(shop)).slice().sort(), { timeout: 20_000 })
      .toEqual(expected.slice().sort());
    const afterReload = await widgetTranscript(shop);
    expect(afterReload.slice(0, 2)).toEqual(expected.slice(0, 2));
    expect(afterReload).not.toContain('Carrier says delayed at the depot');
    await expect.poll(() => shop.locator('[data-nexus-widget] li.pending').count()).toBe(0);

    // The console holds the same conversation once, with the note.
    await expect
      .poll(async () => (await consoleTranscript(agent)).filter((x) => x === 'Order number is 4711').length, {
        timeout: 15_000,
      })
      .toBe(1);
    const agentSide = await consoleTranscript(agent);
    for (const text of [...expected, 'Carrier says delayed at the depot']) {
      expect(
        agentSide.filter((x) => x === text),
        text,
      ).toHaveLength(1);
    }

    // A second reload: still exactly the same transcript.
    await shop.reload();
    await expect.poll(() => widgetTranscript(shop), { timeout: 15_000 }).toEqual(afterReload);

    // No token in any URL the browser asked for (pages, scripts, XHR, WebSocket).
    const clientToken = await shop.evaluate(() => {
      for (const k of Object.keys(localStorage)) {
        if (k.startsWith('nexus.chat:'))
          return JSON.parse(localStorage.getItem(k) ?? '{}').clientToken as string;
      }
      return '';
    });
    expect(clientToken.length).toBeGreaterThan(20);
    expect(requested.length).toBeGreaterThan(5);
    for (const url of requested) {
      const decoded = decodeURIComponent(url);
      expect(decoded, url).not.toContain(clientToken);
      expect(decoded, url).not.toContain(tenant.agentToken);
    }
    expect(cspViolations).toEqual([]);
  }, 120_000);

  it('shows agent-assist suggestions (use, edit, dismiss), opens one conversation at /ux/conv, and ends it with Done', async () => {
    const shop = await browser.context.newPage();
    await shop.goto(`${host.origin}/shop`);
    await shop.evaluate(() => localStorage.clear());
    await shop.reload();
    await shop.getByRole('button', { name: 'Chat with us' }).click();
    const box = shop.getByRole('textbox', { name: 'Your message' });
    await box.fill('Can I change my delivery address?');
    await box.press('Enter');
    await expect
      .poll(() => widgetTranscript(shop), { timeout: 15_000 })
      .toEqual(['Can I change my delivery address?']);
    const conversationId = await shop.evaluate(() => {
      for (const k of Object.keys(localStorage)) {
        if (k.startsWith('nexus.chat:'))
          return JSON.parse(localStorage.getItem(k) ?? '{}').messages[0].conversationId as string;
      }
      return '';
    });
    expect(conversationId).toBeTruthy();

    // The agent on the desktop gets it (the earlier conversation is still open there).
    const desktop = browser.context.pages().find((p) => p.url().endsWith('/desktop'))!;
    const agent = desktop.frameLocator('#nexus');
    await openFromList(agent, /Sam Rivera.*Can I change/, t, tenant.apiKey);

    // Agent assist posts suggestions; they reach the console only.
    const posted = await api(t.url, 'POST', `/nexus/v3/interactions/${conversationId}/suggestions`, {
      headers: { 'x-api-key': tenant.apiKey },
      json: {
        suggestions: [
          { text: 'Yes, until the parcel ships you can change it in your account.' },
          { text: 'Let me update it for you: what is the new address?' },
          { text: 'Our stores are open 9 to 6.' },
        ],
      },
    });
    expect(posted.status, JSON.stringify(posted.body)).toBe(200);
    const suggestions = agent.getByRole('region', { name: 'Suggested replies' });
    await expect.poll(() => suggestions.locator('.suggestion').count(), { timeout: 15_000 }).toBe(3);
    await suggestions.getByRole('button', { name: /Dismiss suggestion: Our stores/ }).click();
    await suggestions
      .locator('.suggestion', { hasText: 'until the parcel ships' })
      .getByRole('button', { name: 'Use' })
      .click();
    await suggestions
      .locator('.suggestion', { hasText: 'what is the new address' })
      .getByRole('button', { name: 'Edit' })
      .click();
    await expect.poll(() => suggestions.locator('.suggestion').count()).toBe(0);
    const reply = agent.getByRole('textbox', { name: 'Reply to the customer' });
    await expect(reply.inputValue()).resolves.toBe('Let me update it for you: what is the new address?');
    await reply.fill('Let me update it for you: what is the new street address?');
    await reply.press('Enter');
    await expect
      .poll(() => widgetTranscript(shop), { timeout: 15_000 })
      .toEqual([
        'Can I change my delivery address?',
        'Yes, until the parcel ships you can change it in your account.',
        'Let me update it for you: what is the new street address?',
      ]);
    expect(await widgetTranscript(shop)).not.toContain('Our stores are open 9 to 6.');

    // The same conversation alone, as the desktop's interaction tab shows it.
    const conv = await browser.context.newPage();
    await conv.goto(
      `${t.url}/ux/conv?iid=${conversationId}&customername=Acme&ccid=${encodeURIComponent(tenant.ccid)}`,
    );
    await conv.getByLabel('Agent token').fill(tenant.agentToken);
    await conv.getByRole('button', { name: 'Sign in' }).click();
    await expect
      .poll(() => consoleTranscript(conv), { timeout: 15_000 })
      .toEqual(await widgetTranscript(shop));
    await expect(conv.locator('#conv-title').textContent()).resolves.toBe('Sam Rivera');
    await conv.getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => conv.locator('.state').textContent(), { timeout: 15_000 }).toBe('Done');
    await expect
      .poll(() => conv.getByRole('textbox', { name: 'Reply to the customer' }).isDisabled())
      .toBe(true);
    await conv.close();
    await shop.close();
  }, 120_000);

  it('transfers a conversation to another queue from the console', async () => {
    const shop = await browser.context.newPage();
    await shop.goto(`${host.origin}/shop`);
    await shop.evaluate(() => localStorage.clear());
    await shop.reload();
    await shop.getByRole('button', { name: 'Chat with us' }).click();
    await shop.getByRole('textbox', { name: 'Your message' }).fill('I need an invoice for my order');
    await shop.getByRole('textbox', { name: 'Your message' }).press('Enter');

    const desktop = browser.context.pages().find((p) => p.url().endsWith('/desktop'))!;
    const agent = desktop.frameLocator('#nexus');
    const mine = agent.getByRole('list', { name: /My conversations/ });
    await openFromList(agent, /I need an invoice/, t, tenant.apiKey);
    await agent.getByRole('button', { name: 'Transfer', exact: true }).first().click();
    await agent.getByLabel('To queue').fill('billing');
    await agent.getByLabel('To queue').press('Enter');
    await expect
      .poll(() => agent.locator('.feedback').textContent(), { timeout: 15_000 })
      .toContain('Transferred to queue billing');
    // It leaves the agent's own list: nobody staffs billing, so it waits there.
    await expect
      .poll(() => mine.getByRole('button', { name: /I need an invoice/ }).count(), { timeout: 15_000 })
      .toBe(0);
    await expect.poll(() => agent.locator('#conv-title + .state').textContent()).toBe('Queued');
    await shop.close();
  }, 120_000);

  it('signs the console in from the form, and refuses a bad token or one of another tenant', async () => {
    const other = await provision(t);
    const page = await browser.context.newPage();
    await page.goto(`${t.url}/ux/comm?customername=Acme&ccid=${encodeURIComponent(tenant.ccid)}`);
    await page.getByLabel('Agent token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 15_000 }).toMatch(/refused/i);
    await page.getByLabel('Agent token').fill(other.agentToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/another tenant/i);
    await page.getByLabel('Agent token').fill(tenant.agentToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect
      .poll(() => page.locator('.conn').getAttribute('data-state'), { timeout: 15_000 })
      .toBe('live');
    // Kept for this tab only: a reload stays signed in, without the token in the URL.
    await page.reload();
    await expect
      .poll(() => page.locator('.conn').getAttribute('data-state'), { timeout: 15_000 })
      .toBe('live');
    expect(page.url()).not.toContain(tenant.agentToken);
    await page.close();
  }, 60_000);
});
