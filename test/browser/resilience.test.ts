/**
 * The widget when the network misbehaves, in real Chromium: with the socket.io path blocked it
 * falls back to the Chat v3 REST flow (and back to the socket once it is reachable); through a
 * network drop, what the customer sends while offline is delivered once when the network returns.
 * The agent ends each conversation with Done from the console.
 */
import type { FrameLocator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { buildBundles } from './build.js';
import { type Browser, launchChromium } from './chromium.js';
import {
  consoleTranscript,
  desktopPage,
  type Provisioned,
  provision,
  readyAgent,
  shopPage,
  widgetTranscript,
} from './fixtures.js';
import { type HostServer, startHostServer } from './host-server.js';

const SOCKET_URL = /\/chat\/v3\/socket\.io\//;

describe.each(engines())('widget resilience in Chromium (%s)', (engine) => {
  let t: TestNexus;
  let host: HostServer;
  let browser: Browser;
  let tenant: Provisioned;
  let agent: FrameLocator;

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
    agent = await readyAgent(await browser.context.newPage(), `${host.origin}/desktop`);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await host?.close();
    await t?.cleanup();
  });

  /** A fresh customer: the shop in a new tab with no saved chat. */
  async function newCustomer(): Promise<Page> {
    const shop = await browser.context.newPage();
    await shop.goto(`${host.origin}/shop`);
    await shop.evaluate(() => localStorage.clear());
    await shop.reload();
    await shop.getByRole('button', { name: 'Chat with us' }).click();
    return shop;
  }

  async function say(shop: Page, text: string): Promise<void> {
    const box = shop.getByRole('textbox', { name: 'Your message' });
    await box.fill(text);
    await box.press('Enter');
  }

  async function reply(text: string): Promise<void> {
    const box = agent.getByRole('textbox', { name: 'Reply to the customer' });
    await box.fill(text);
    await box.press('Enter');
  }

  async function done(): Promise<void> {
    await agent.getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => agent.locator('.feedback').textContent()).toContain('done');
  }

  it('falls back to REST when the socket cannot connect, then returns to the socket', async () => {
    const blocked = browser.context;
    await blocked.route(SOCKET_URL, (r) => r.abort());
    await blocked.routeWebSocket(SOCKET_URL, (ws) => ws.close());
    const shop = await newCustomer();
    await say(shop, 'Hello over REST');
    await expect
      .poll(() => shop.locator('[data-nexus-widget] .status').textContent(), { timeout: 20_000 })
      .toContain('limited mode');
    await expect.poll(() => widgetTranscript(shop), { timeout: 20_000 }).toEqual(['Hello over REST']);

    await expect.poll(() => consoleTranscript(agent), { timeout: 20_000 }).toContain('Hello over REST');
    await reply('Hi! Reading you fine.');
    await expect
      .poll(() => widgetTranscript(shop), { timeout: 20_000 })
      .toEqual(['Hello over REST', 'Hi! Reading you fine.']);

    // The socket path comes back: the widget goes live again and nothing is repeated.
    await blocked.unrouteAll();
    await blocked.routeWebSocket(SOCKET_URL, (ws) => ws.connectToServer());
    await expect
      .poll(() => shop.locator('[data-nexus-widget] .status').getAttribute('data-state'), { timeout: 30_000 })
      .toBe('live');
    await say(shop, 'And now live');
    await reply('Live too.');
    await expect
      .poll(() => widgetTranscript(shop), { timeout: 15_000 })
      .toEqual(['Hello over REST', 'Hi! Reading you fine.', 'And now live', 'Live too.']);
    // The console shows its own reply once acked, which may come after the widget has it.
    await expect
      .poll(() => consoleTranscript(agent), { timeout: 15_000 })
      .toEqual(['Hello over REST', 'Hi! Reading you fine.', 'And now live', 'Live too.']);
    await done();
    await shop.close();
  }, 120_000);

  it('delivers what the customer sent while offline exactly once when the network returns', async () => {
    const shop = await newCustomer();
    await say(shop, 'Before the tunnel');
    await expect.poll(() => consoleTranscript(agent), { timeout: 20_000 }).toContain('Before the tunnel');

    await browser.context.setOffline(true);
    // Drop the live connection too, as a real network loss would.
    t.nexus.io.of('/consumer').disconnectSockets(true);
    await say(shop, 'In the tunnel 1');
    await say(shop, 'In the tunnel 2');
    await expect.poll(() => shop.locator('[data-nexus-widget] li.pending').count()).toBe(2);
    await reply('Are you still there?');

    await browser.context.setOffline(false);
    const expected = ['Before the tunnel', 'In the tunnel 1', 'In the tunnel 2', 'Are you still there?'];
    await expect
      .poll(async () => (await widgetTranscript(shop)).slice().sort(), { timeout: 30_000 })
      .toEqual(expected.slice().sort());
    await expect.poll(() => shop.locator('[data-nexus-widget] li.pending').count()).toBe(0);
    const customerSide = await widgetTranscript(shop);
    expect(customerSide.indexOf('In the tunnel 1')).toBeLessThan(customerSide.indexOf('In the tunnel 2'));
    await expect
      .poll(async () => (await consoleTranscript(agent)).slice().sort(), { timeout: 15_000 })
      .toEqual(expected.slice().sort());
    await done();
    await shop.close();
  }, 120_000);
});
