/**
 * The widget's script API as a site's own code drives it, in real Chromium: `data-manual` defers the
 * start to `Nexus.init`, a listener registered before it hears every message once and in order (its
 * own and the agent's), `Nexus.open()`/`close()` show and hide the panel, `Nexus.send()` sends,
 * `Nexus.messages()` holds the transcript, and `Nexus.end()` ends the chat.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../chat/routing-helpers.js';
import { engines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { buildBundles } from './build.js';
import { type Browser, launchChromium } from './chromium.js';
import { type Provisioned, provision } from './fixtures.js';
import { type HostServer, startHostServer } from './host-server.js';

/** A site that loads the widget without starting it, and drives it from its own script. */
function apiPage(gateway: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Own UI</title></head>
    <body><h1>Support</h1>
    <script src="${gateway}/ux/widget.js" data-manual="true"></script>
    <script>
      window.heard = [];
      window.statuses = [];
      Nexus.on('message', (m) => window.heard.push({ seq: m.seq, type: m.type, from: m.from.type, text: m.text }));
      Nexus.on('status', (s) => window.statuses.push(s));
    </script></body></html>`;
}

/** What the page sees of the widget's API (web/widget/index.ts); the suite type-checks without web/. */
interface NexusApi {
  init(o: { apiKey: string; endpoint: string; customer?: Record<string, string>; launcher?: string }): void;
  open(): void;
  close(): void;
  send(text: string): void;
  end(): Promise<void>;
  messages(): Array<{ seq: number }>;
  readonly isOpen: boolean;
}
declare global {
  interface Window {
    Nexus: NexusApi;
  }
}

type Heard = { seq: number; type: string; from: string; text?: string };

describe.each(engines())('the widget script API in Chromium (%s)', (engine) => {
  let t: TestNexus;
  let host: HostServer;
  let browser: Browser;
  let tenant: Provisioned;
  let agent: TestAgent;

  beforeAll(async () => {
    host = await startHostServer();
    t = await startNexus({ engine, nexus: { ux: { assetsDir: buildBundles() } } });
    tenant = await provision(t);
    host.page('/own', apiPage(t.url));
    browser = await launchChromium();
    agent = await TestAgent.connect(t, tenant, 'alex', tenant.agentToken);
    await agent.ready();
  }, 120_000);

  afterAll(async () => {
    agent?.close();
    await browser?.close();
    await host?.close();
    await t?.cleanup();
  });

  const heard = (page: Page) => page.evaluate(() => (window as unknown as { heard: Heard[] }).heard);

  it('starts on Nexus.init, sends with Nexus.send, and tells every message once, in order', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${host.origin}/own`);
    // data-manual: nothing is mounted or connected before init.
    expect(await page.locator('[data-nexus-widget]').count()).toBe(0);
    expect(await page.evaluate(() => window.Nexus.isOpen)).toBe(false);
    await expect(page.evaluate(() => window.Nexus.open())).rejects.toThrow(/Nexus.init/);

    await page.evaluate(
      ({ apiKey }) =>
        window.Nexus.init({
          apiKey,
          endpoint: 'web',
          customer: { firstName: 'Kim', lastName: 'Lee', email: 'kim@example.com' },
          launcher: 'Ask us',
        }),
      { apiKey: tenant.widgetKey },
    );
    await page.getByRole('button', { name: 'Ask us' }).waitFor();
    expect(await page.getByRole('dialog').isVisible()).toBe(false);
    await page.evaluate(() => window.Nexus.open());
    await expect.poll(() => page.getByRole('dialog').isVisible()).toBe(true);
    expect(await page.evaluate(() => window.Nexus.isOpen)).toBe(true);

    // What the agent reads: the transcript it is assigned with, then the conversation's messages.
    const read: string[] = [];
    agent.socket.on('message', (m: { text?: string }) => read.push(m.text ?? ''));
    await page.evaluate(() => window.Nexus.send('Hello from the site'));
    const assigned = await agent.nth(1, 20_000);
    expect(assigned.conversation.customer).toMatchObject({ firstName: 'Kim', lastName: 'Lee' });
    // The agent answers what it has read. Routing assigns the conversation as soon as the session
    // is created, so an agent who wrote at once could be committed before the customer's first
    // message (a loaded CI run did: seq order, and so the listener, then has the reply first;
    // widget-order.test.ts covers that case).
    await expect
      .poll(() => [...assigned.transcript.map((m) => m.text), ...read], { timeout: 20_000 })
      .toContain('Hello from the site');
    const sent = await agent.ack('message.send', {
      conversationId: assigned.conversation.id,
      clientMessageId: 'a1',
      text: 'Hello Kim, how can I help?',
    });
    expect(sent.ok, JSON.stringify(sent)).toBe(true);
    const note = await agent.ack('message.send', {
      conversationId: assigned.conversation.id,
      clientMessageId: 'a2',
      text: 'VIP customer',
      visibility: 'agents',
    });
    expect(note.ok, JSON.stringify(note)).toBe(true);

    await expect
      .poll(async () => (await heard(page)).filter((m) => m.type === 'Text').map((m) => [m.from, m.text]), {
        timeout: 15_000,
      })
      .toEqual([
        ['Customer', 'Hello from the site'],
        ['Agent', 'Hello Kim, how can I help?'],
      ]);
    const all = await heard(page);
    // The agent's joining is told too, before the reply.
    expect(all.findIndex((m) => m.type === 'ParticipantJoined' && m.from === 'Agent')).toBeGreaterThan(0);
    const seqs = all.map((m) => m.seq);
    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    expect(all.map((m) => m.text)).not.toContain('VIP customer');
    expect(await page.evaluate(() => window.Nexus.messages().map((m) => m.seq))).toEqual(seqs);
    expect(await page.evaluate(() => (window as unknown as { statuses: string[] }).statuses)).toContain(
      'live',
    );

    await page.evaluate(() => window.Nexus.close());
    await expect.poll(() => page.getByRole('dialog').isVisible()).toBe(false);
    expect(await page.evaluate(() => window.Nexus.isOpen)).toBe(false);

    // Ending from the API ends the conversation for the agent too (async hold with its agent).
    await page.evaluate(() => window.Nexus.end());
    await agent.until(
      () => agent.updated.find((c) => c.id === assigned.conversation.id && c.state === 'asynchold'),
      'async hold after Nexus.end()',
      15_000,
    );
    await page.close();
  }, 90_000);
});
