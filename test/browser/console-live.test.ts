/**
 * What the agent and the customer see of each other while a conversation lives, in real Chromium:
 * the console's queues panel and the widget's queue notice while nobody is ready, typing both ways,
 * the async-hold list when the customer leaves, and the console refusing to be framed by a site
 * that frame-ancestors does not name (so no such site can hand it a token).
 */
import type { FrameLocator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { buildBundles } from './build.js';
import { type Browser, launchChromium } from './chromium.js';
import { desktopPage, type Provisioned, provision, shopPage, widgetTranscript } from './fixtures.js';
import { type HostServer, startHostServer } from './host-server.js';

/** The agent desktop, signed in, without going Ready. */
async function signedIn(page: Page, url: string): Promise<FrameLocator> {
  await page.goto(url);
  const agent = page.frameLocator('#nexus');
  await agent.locator('.conn[data-state="live"]').waitFor({ timeout: 15_000 });
  return agent;
}

async function openWidget(browser: Browser, url: string): Promise<Page> {
  const shop = await browser.context.newPage();
  await shop.goto(url);
  await shop.evaluate(() => localStorage.clear());
  await shop.reload();
  await shop.getByRole('button', { name: 'Chat with us' }).click();
  return shop;
}

describe.each(engines())('the live console and widget in Chromium (%s)', (engine) => {
  let t: TestNexus;
  let desk: HostServer;
  let elsewhere: HostServer;
  let browser: Browser;
  let tenant: Provisioned;

  beforeAll(async () => {
    desk = await startHostServer();
    elsewhere = await startHostServer();
    // Only the agent desktop may frame the console.
    t = await startNexus({
      engine,
      nexus: { ux: { assetsDir: buildBundles(), frameAncestors: desk.origin } },
    });
    tenant = await provision(t);
    desk.page('/shop', shopPage(t.url, tenant.widgetKey));
    desk.page('/desktop', desktopPage(t.url, tenant.ccid, desk.origin, tenant.agentToken));
    elsewhere.page('/desktop', desktopPage(t.url, tenant.ccid, elsewhere.origin, tenant.agentToken));
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await desk?.close();
    await elsewhere?.close();
    await t?.cleanup();
  });

  it('shows what waits in the queue to the agent and to the customer, until the agent takes it', async () => {
    const desktop = await browser.context.newPage();
    const agent = await signedIn(desktop, `${desk.origin}/desktop`);
    const queues = agent.getByRole('list', { name: 'Queues' });
    const support = queues.locator('li.queue[data-queue="support"]');
    // The agent's queue is listed while nothing waits in it.
    await expect.poll(() => support.locator('.count').textContent(), { timeout: 15_000 }).toBe('0 waiting');

    const shop = await openWidget(browser, `${desk.origin}/shop`);
    await shop.getByRole('textbox', { name: 'Your message' }).fill('Is anyone there?');
    await shop.getByRole('textbox', { name: 'Your message' }).press('Enter');
    await expect.poll(() => widgetTranscript(shop), { timeout: 15_000 }).toEqual(['Is anyone there?']);

    // Nobody is ready: it waits, and both sides see it.
    const notice = shop.locator('[data-nexus-widget] p.queue[role="status"]');
    await expect.poll(() => notice.textContent(), { timeout: 15_000 }).toMatch(/in the queue/);
    await expect.poll(() => support.locator('.count').textContent(), { timeout: 15_000 }).toBe('1 waiting');
    const waiting = support.getByRole('list', { name: 'support' });
    await expect(waiting.locator('li .name').allTextContents()).resolves.toEqual(['Sam Rivera']);
    await expect(waiting.locator('li time').getAttribute('datetime')).resolves.toMatch(/^\d{4}-\d\d-\d\dT/);
    // Waiting is nobody's yet: it is not among the agent's own conversations.
    await expect(agent.getByRole('list', { name: /My conversations/ }).textContent()).resolves.toContain(
      'None right now',
    );

    // The agent goes Ready and takes it: it leaves the queue, and the customer's notice goes.
    await agent.getByRole('switch').click();
    await expect
      .poll(
        () =>
          agent
            .getByRole('list', { name: /My conversations/ })
            .getByRole('button')
            .count(),
        {
          timeout: 20_000,
        },
      )
      .toBe(1);
    await expect.poll(() => support.locator('.count').textContent(), { timeout: 15_000 }).toBe('0 waiting');
    await expect(support.locator('ol.waiting').count()).resolves.toBe(0);
    await expect.poll(() => notice.textContent(), { timeout: 15_000 }).toBe('');

    // Done, so that the next test starts from an empty desk.
    await agent
      .getByRole('list', { name: /My conversations/ })
      .getByRole('button')
      .first()
      .click();
    await agent.getByRole('button', { name: 'Done', exact: true }).click();
    await expect.poll(() => agent.locator('.state').first().textContent(), { timeout: 15_000 }).toBe('Done');
    await shop.close();
    await desktop.close();
  }, 120_000);

  it('shows typing both ways, and the async-hold list when the customer leaves', async () => {
    const desktop = await browser.context.newPage();
    const agent = await signedIn(desktop, `${desk.origin}/desktop`);
    await agent.getByRole('switch').click();
    await agent.locator('[role="switch"][aria-checked="true"]').waitFor();

    const shop = await openWidget(browser, `${desk.origin}/shop`);
    const box = shop.getByRole('textbox', { name: 'Your message' });
    await box.fill('My parcel is damaged');
    await box.press('Enter');
    const mine = agent.getByRole('list', { name: /My conversations/ });
    await mine.getByRole('button', { name: /My parcel is damaged/ }).click({ timeout: 20_000 });

    // The customer types: the agent sees it.
    await box.pressSequentially('I can send a photo', { delay: 20 });
    await expect.poll(() => agent.locator('.typing').textContent(), { timeout: 15_000 }).toMatch(/is typing/);

    // The agent types: the customer sees it; the reply clears it.
    const reply = agent.getByRole('textbox', { name: 'Reply to the customer' });
    await reply.pressSequentially('Please do', { delay: 20 });
    const typing = shop.locator('[data-nexus-widget] p.typing');
    await expect.poll(() => typing.textContent(), { timeout: 15_000 }).toMatch(/is typing…$/);
    await reply.press('Enter');
    await expect.poll(() => widgetTranscript(shop), { timeout: 15_000 }).toContain('Please do');
    await expect.poll(() => typing.textContent()).toBe('');

    // An internal note is written without a typing signal to the customer.
    await agent.getByLabel('Internal note (agents only)').check();
    await reply.pressSequentially('Check the courier claim form', { delay: 20 });
    await reply.press('Enter');
    await expect
      .poll(() => agent.locator('.transcript li[data-seq] .bubble').allTextContents(), { timeout: 15_000 })
      .toContain('Check the courier claim form');
    expect(await typing.textContent()).toBe('');
    await agent.getByLabel('Internal note (agents only)').uncheck();

    // The customer ends the chat: the conversation goes on async hold with its agent.
    const conversationId = await shop.evaluate(() => {
      for (const k of Object.keys(localStorage)) {
        if (k.startsWith('nexus.chat:'))
          return JSON.parse(localStorage.getItem(k) ?? '{}').messages[0].conversationId as string;
      }
      return '';
    });
    expect(conversationId).toBeTruthy();
    await shop.getByRole('button', { name: 'End chat' }).click();
    const hold = agent.getByRole('list', { name: /Async hold/ });
    await expect
      .poll(() => hold.getByRole('button', { name: /Sam Rivera/ }).count(), { timeout: 20_000 })
      .toBe(1);
    await expect(agent.locator('#hold-title .count').textContent()).resolves.toBe('1');
    await expect.poll(() => mine.getByRole('button').count()).toBe(0);
    const held = await api(t.url, 'GET', `/nexus/v3/interactions/${conversationId}`, {
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(held.body.data).toMatchObject({ state: 'asynchold', agentId: 'alex' });

    // The agent returns to it from the hold list and closes it with Done: the list empties.
    await hold.getByRole('button', { name: /Sam Rivera/ }).click();
    await reply.fill('We have filed the claim; a replacement is on its way.');
    await reply.press('Enter');
    await expect
      .poll(() => agent.locator('.transcript li[data-seq] .bubble').allTextContents(), { timeout: 15_000 })
      .toContain('We have filed the claim; a replacement is on its way.');
    await agent.getByRole('button', { name: 'Done', exact: true }).click();
    await expect.poll(() => hold.getByRole('button').count(), { timeout: 15_000 }).toBe(0);
    const done = await api(t.url, 'GET', `/nexus/v3/interactions/${conversationId}`, {
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(done.body.data.state).toBe('done');
    await shop.close();
    await desktop.close();
  }, 120_000);

  it("lists the contact's earlier conversations and reads one in place", async () => {
    const desktop = await browser.context.newPage();
    const agent = await signedIn(desktop, `${desk.origin}/desktop`);
    await agent.getByRole('switch').click();
    await agent.locator('[role="switch"][aria-checked="true"]').waitFor();
    const mine = agent.getByRole('list', { name: /My conversations/ });

    // Kim wrote before (over REST, as another channel's widget would), and that conversation is Done.
    const first = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
      headers: { 'x-api-key': tenant.widgetKey },
      form: new URLSearchParams({
        'data[firstName]': 'Kim',
        'data[email]': 'kim@example.com',
        'data[endpoint]': 'web',
      }).toString(),
    });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const sent = await api(t.url, 'POST', `${first.body.data.selfUri}/messages`, {
      headers: { 'x-nexus-client-key': first.body.data.clientToken },
      form: new URLSearchParams({ 'data[type]': 'Text', 'data[text]': 'Where is my refund?' }).toString(),
    });
    expect(sent.status, JSON.stringify(sent.body)).toBeLessThan(300);
    await mine.getByRole('button', { name: /Where is my refund/ }).click({ timeout: 20_000 });
    await agent.getByRole('button', { name: 'Done', exact: true }).click();
    await expect.poll(() => mine.getByRole('button').count(), { timeout: 15_000 }).toBe(0);

    // Kim is back on the site's widget with the same address (another case): the agent sees the past.
    desk.page(
      '/shop-kim',
      shopPage(t.url, tenant.widgetKey).replace(
        'data-first-name="Sam"',
        'data-first-name="Kim" data-email="KIM@example.com"',
      ),
    );
    const shop = await openWidget(browser, `${desk.origin}/shop-kim`);
    await shop.getByRole('textbox', { name: 'Your message' }).fill('The refund again, sorry');
    await shop.getByRole('textbox', { name: 'Your message' }).press('Enter');
    await mine.getByRole('button', { name: /The refund again/ }).click({ timeout: 20_000 });
    const history = agent.locator('.transcript li.history');
    await history.getByText('1 earlier conversation with this contact').click();
    const earlier = history.locator('ul.earlier li');
    await expect(earlier.count()).resolves.toBe(1);
    const open = earlier.getByRole('button');
    await expect(open.textContent()).resolves.toMatch(/chat · done$/);
    await open.click();
    await expect
      .poll(() => earlier.locator('.earlier-lines li').allTextContents(), { timeout: 15_000 })
      .toContain('Kim: Where is my refund?');
    await expect(open.getAttribute('aria-expanded')).resolves.toBe('true');
    // The earlier transcript is not mixed into this conversation's own.
    await expect(agent.locator('.transcript li[data-seq] .bubble').allTextContents()).resolves.toEqual([
      'The refund again, sorry',
    ]);
    await agent.getByRole('button', { name: 'Done', exact: true }).click();
    await shop.close();
    await desktop.close();
  }, 120_000);

  it('cannot be framed by a site frame-ancestors does not name, so that site hands it no token', async () => {
    const page = await browser.context.newPage();
    const refused = new Promise<string>((resolve) => {
      page.on('console', (m) => {
        if (/frame-ancestors/.test(m.text())) resolve(m.text());
      });
    });
    await page.goto(`${elsewhere.origin}/desktop`);
    expect(await refused).toMatch(
      /violates the following Content Security Policy directive: "frame-ancestors/,
    );
    const frame = page.frames().find((f) => f !== page.mainFrame());
    expect(frame, 'the iframe exists').toBeTruthy();
    // The console never ran in it: no page of the gateway is in the frame.
    expect(await frame!.evaluate(() => document.body?.dataset.view ?? null).catch(() => null)).toBeNull();
    await expect(page.frameLocator('#nexus').locator('.conn').count()).resolves.toBe(0);
    await page.close();
  }, 60_000);
});
