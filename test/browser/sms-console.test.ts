/**
 * SMS delivery states in the agent console, in real Chromium: a customer texts in through the
 * Twilio fake (its real webhook, signed), the conversation is given to the agent in the console, the
 * agent replies there, the fake accepts the SMS and later sends its status callback; the console
 * shows the reply Sent, then Delivered, in words, and still Delivered after the console is reloaded
 * (the transcript it loads again carries each reply's state). A provider that is down fails the next
 * reply for good: the console shows it Failed and the conversation Undelivered, and after a reload
 * still lists and opens it, Failed and Undelivered.
 */
import { randomUUID } from 'node:crypto';
import type { FrameLocator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentToken, putAgent, putEndpoint } from '../chat/routing-helpers.js';
import { engines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { phone, type SmsHarness, twilioHarness } from '../sms/providers.js';
import { buildBundles } from './build.js';
import { type Browser, launchChromium } from './chromium.js';
import { desktopPage, openFromList, readyAgent } from './fixtures.js';
import { type HostServer, startHostServer } from './host-server.js';

describe.each(engines())('SMS delivery states in the console, in Chromium (%s)', (engine) => {
  let t: TestNexus;
  let host: HostServer;
  let browser: Browser;
  let h: SmsHarness;
  let tenant: TestTenant;
  let agent: FrameLocator;
  let page: Page;
  const channelId = phone();
  const customer = phone();

  beforeAll(async () => {
    host = await startHostServer();
    t = await startNexus({
      engine,
      nexus: { ux: { assetsDir: buildBundles(), frameAncestors: host.origin } },
    });
    h = twilioHarness();
    await h.start();
    tenant = await createTenant(t);
    await putEndpoint(t, tenant, 'sms', { queue: 'sms' });
    await putAgent(t, tenant, 'ann', { name: 'Ann Lee', queues: ['sms'], capacity: 3 });
    // One attempt: a provider that refuses the send fails the reply at once (no retries to wait for).
    await h.provision(t, tenant, channelId, { endpoint: 'sms', maxAttempts: 1 });
    host.page('/desktop', desktopPage(t.url, tenant.ccid, host.origin, await agentToken(t, tenant, 'ann')));
    browser = await launchChromium();
    page = await browser.context.newPage();
    agent = await readyAgent(page, `${host.origin}/desktop`);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await host?.close();
    await h?.close();
    await t?.cleanup();
  });

  /** The agent's reply in the console's transcript, once committed (it has a seq). */
  const replyItem = (text: string) =>
    agent
      .locator('.transcript li.msg.agent[data-seq]')
      .filter({ has: agent.getByText(text, { exact: true }) });

  async function replyInConsole(text: string): Promise<void> {
    await agent.locator('#reply').fill(text);
    await agent.getByRole('button', { name: 'Send' }).click();
    await replyItem(text).waitFor({ timeout: 15_000 });
  }

  it('shows a reply Sent, then Delivered when the provider says so', async () => {
    const r = await h.inbound(t, tenant, channelId, {
      id: `mo-${randomUUID()}`,
      from: customer,
      text: 'Where is my parcel?',
    });
    expect(r.status).toBe(200);
    await openFromList(agent, new RegExp(customer), t, tenant.apiKey);
    await agent.locator('.transcript').getByText('Where is my parcel?').waitFor({ timeout: 15_000 });

    const before = h.accepted().length;
    await replyInConsole('It is on its way.');
    const [rec] = (await h.server.until((x) => h.accepted().includes(x), before + 1)).slice(-1);
    const sent = h.read(rec);
    expect(sent.text).toBe('It is on its way.');

    const state = replyItem('It is on its way.').locator('.delivery');
    await expect.poll(() => state.getAttribute('data-delivery'), { timeout: 15_000 }).toBe('sent');
    expect(await state.textContent()).toContain('Sent');

    expect((await h.receipt(t, tenant, channelId, sent.providerId, 'delivered')).status).toBe(200);
    await expect.poll(() => state.getAttribute('data-delivery'), { timeout: 15_000 }).toBe('delivered');
    // Said in words, not only in colour.
    expect(await state.textContent()).toContain('Delivered');
    await expect.poll(() => agent.locator('.title-row .state').textContent()).toBe('Active');

    // A reload: the console starts afresh, lists its conversation, loads the transcript again; the
    // reply still says Delivered (no receipt or message.updated comes again to say it).
    await page.reload();
    await agent.locator('.conn[data-state="live"]').waitFor({ timeout: 15_000 });
    await openFromList(agent, new RegExp(customer), t, tenant.apiKey);
    const reloaded = replyItem('It is on its way.').locator('.delivery');
    await reloaded.waitFor({ timeout: 15_000 });
    expect(await reloaded.getAttribute('data-delivery')).toBe('delivered');
    expect(await reloaded.textContent()).toContain('Delivered');
  });

  it('shows a reply the provider refused Failed, and the conversation Undelivered', async () => {
    h.server.goDown(503);
    try {
      await replyInConsole('Sorry, one more thing.');
      const state = replyItem('Sorry, one more thing.').locator('.delivery');
      await expect.poll(() => state.getAttribute('data-delivery'), { timeout: 20_000 }).toBe('failed');
      expect(await state.textContent()).toContain('Failed');
      // The earlier reply keeps its own state.
      expect(await replyItem('It is on its way.').locator('.delivery').textContent()).toContain('Delivered');
      await expect
        .poll(() => agent.locator('.title-row .state').textContent(), { timeout: 15_000 })
        .toBe('Undelivered');

      // Reloaded: the undelivered conversation is still the agent's, listed and opened, each reply
      // with its own state.
      await page.reload();
      await agent.locator('.conn[data-state="live"]').waitFor({ timeout: 15_000 });
      await openFromList(agent, new RegExp(customer), t, tenant.apiKey);
      const failedAgain = replyItem('Sorry, one more thing.').locator('.delivery');
      await failedAgain.waitFor({ timeout: 15_000 });
      expect(await failedAgain.getAttribute('data-delivery')).toBe('failed');
      expect(await failedAgain.textContent()).toContain('Failed');
      expect(await replyItem('It is on its way.').locator('.delivery').textContent()).toContain('Delivered');
      await expect.poll(() => agent.locator('.title-row .state').textContent()).toBe('Undelivered');
    } finally {
      h.server.recover();
    }
  });
});
