/**
 * `Nexus.on('message', fn)` hears every message once and in seq order, in real Chromium against the
 * real gateway, when the customer's own message is known from its acknowledgement before the
 * server's ordered stream has brought a lower seq: the agent's reply is committed just before the
 * customer's message, and the acknowledgement reaches the page first. Over the REST fallback the
 * page's next poll is held back until the POST's answer was taken; over the socket the `message`
 * frames are held back (a WebSocket route between page and gateway) until the `message.send` ack
 * has passed, as happens when the socket's server-side stream is still replaying from the database
 * or hears another node's commit a little later. Also: an agent who answers before the customer's
 * first message is committed is heard first, as the seq order says; and a message that waited for
 * the stream when the page was reloaded is told after the reload, in its place.
 */
import type { Page, Route, WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../chat/routing-helpers.js';
import { engines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { buildBundles } from './build.js';
import { type Browser, launchChromium } from './chromium.js';
import { type Provisioned, provision } from './fixtures.js';
import { type HostServer, startHostServer } from './host-server.js';

const SOCKET_URL = /\/chat\/v3\/socket\.io\//;
const MESSAGES_URL = /\/nexus\/v3\/chat\/sessions\/[^/]+\/messages/;

/** A site driving the widget from its own script: what its listener heard, and the outbox size. */
function orderPage(gateway: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Order</title></head>
    <body><h1>Support</h1>
    <script src="${gateway}/ux/widget.js" data-manual="true"></script>
    <script>
      window.heard = [];
      window.outbox = 0;
      Nexus.on('message', (m) => window.heard.push({ seq: m.seq, type: m.type, from: m.from.type, text: m.text }));
      Nexus.on('outbox', (p) => { window.outbox = p.length; });
    </script></body></html>`;
}

interface NexusApi {
  init(o: {
    apiKey: string;
    endpoint: string;
    customer?: Record<string, string>;
    storage?: 'local' | 'session';
  }): void;
  send(text: string): void;
  messages(): Array<{ seq: number }>;
}
type Heard = { seq: number; type: string; from: string; text?: string };
type OrderWindow = { Nexus: NexusApi; heard: Heard[]; outbox: number };

/** A promise with its resolve, for holding a route until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

describe.each(engines())('the widget tells messages in seq order in Chromium (%s)', (engine) => {
  let t: TestNexus;
  let host: HostServer;
  let browser: Browser;
  let tenant: Provisioned;
  let agent: TestAgent;

  beforeAll(async () => {
    host = await startHostServer();
    t = await startNexus({ engine, nexus: { ux: { assetsDir: buildBundles() } } });
    tenant = await provision(t);
    host.page('/order', orderPage(t.url));
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

  const heard = (page: Page) => page.evaluate(() => (window as unknown as OrderWindow).heard);
  const texts = async (page: Page) =>
    (await heard(page)).filter((m) => m.type === 'Text').map((m) => `${m.from}: ${m.text}`);

  async function open(page: Page): Promise<void> {
    await page.goto(`${host.origin}/order`);
    await page.evaluate(
      ({ apiKey }) =>
        (window as unknown as OrderWindow).Nexus.init({
          apiKey,
          endpoint: 'web',
          customer: { firstName: 'Kim', lastName: 'Lee' },
          // Per tab: each test's page has a chat of its own.
          storage: 'session',
        }),
      { apiKey: tenant.widgetKey },
    );
  }

  const send = (page: Page, text: string) =>
    page.evaluate((s) => (window as unknown as OrderWindow).Nexus.send(s), text);

  async function reply(conversationId: string, text: string): Promise<number> {
    const r = await agent.ack('message.send', {
      conversationId,
      clientMessageId: `agent-${text.replace(/\W+/g, '-')}`,
      text,
    });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    return r.seq as number;
  }

  /** The agent marks it Done: its room is free for the next test's conversation (capacity 3). */
  async function done(conversationId: string): Promise<void> {
    const r = await agent.ack('conversation.done', { conversationId });
    expect(r.ok, JSON.stringify(r)).toBe(true);
  }

  /** Heard once each, in strictly rising seq order, and `Nexus.messages()` holds exactly that. */
  async function expectInOrder(page: Page): Promise<void> {
    const all = await heard(page);
    const seqs = all.map((m) => m.seq);
    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    const held = await page.evaluate(() =>
      (window as unknown as OrderWindow).Nexus.messages().map((m) => m.seq),
    );
    expect(held).toEqual(seqs);
  }

  it('over REST: the POST answer comes before the poll that brings the lower agent reply', async () => {
    const page = await browser.context.newPage();
    await page.route(SOCKET_URL, (r) => r.abort());
    await page.routeWebSocket(SOCKET_URL, (ws) => ws.close());
    let armed: string | undefined;
    let polls = gate();
    polls.open();
    const inflight = new Set<Promise<unknown>>();
    let conversationId = '';
    let agentSeq = 0;
    await page.route(MESSAGES_URL, async (route: Route) => {
      const req = route.request();
      if (req.method() === 'GET') {
        await polls.promise;
        const p = route.fetch().then((res) => route.fulfill({ response: res }));
        inflight.add(p);
        await p.finally(() => inflight.delete(p));
        return;
      }
      if (!armed || !new URLSearchParams(req.postData() ?? '').get('data[text]')?.includes(armed)) {
        await route.continue();
        return;
      }
      armed = undefined;
      // No poll reads the transcript from here until the page has taken this POST's answer.
      polls = gate();
      await Promise.allSettled([...inflight]);
      agentSeq = await reply(conversationId, 'Reply committed first');
      await route.continue();
    });
    const nth = agent.assigned.length + 1;
    await open(page);
    await send(page, 'Hi over REST');
    const assigned = await agent.nth(nth, 20_000);
    conversationId = assigned.conversation.id;
    await expect
      .poll(() => heard(page), { timeout: 20_000 })
      .toEqual(
        expect.arrayContaining([
          expect.objectContaining({ type: 'ParticipantJoined', from: 'Agent' }),
          expect.objectContaining({ text: 'Hi over REST' }),
        ]),
      );

    armed = 'Then mine';
    await send(page, 'Then mine');
    // The POST was answered and taken: the outbox is empty again.
    await expect.poll(() => page.evaluate(() => (window as unknown as OrderWindow).outbox)).toBe(0);
    expect(agentSeq).toBeGreaterThan(0);
    polls.open();
    await expect
      .poll(() => texts(page), { timeout: 15_000 })
      .toEqual(['Customer: Hi over REST', 'Agent: Reply committed first', 'Customer: Then mine']);
    await expectInOrder(page);
    const mine = (await heard(page)).find((m) => m.text === 'Then mine');
    expect(mine?.seq).toBe(agentSeq + 1);
    await done(conversationId);
    await page.close();
  }, 90_000);

  it('over the socket: the message.send ack comes before the stream brings the lower agent reply', async () => {
    const page = await browser.context.newPage();
    let holding = false;
    const held: string[] = [];
    await page.routeWebSocket(SOCKET_URL, (ws: WebSocketRoute) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => server.send(m));
      server.onMessage((m) => {
        if (holding && typeof m === 'string' && m.startsWith('42/consumer,["message"')) {
          held.push(m);
          return;
        }
        ws.send(m);
        // The customer's ack has passed: the stream catches up, in its own order.
        if (holding && typeof m === 'string' && m.startsWith('43/consumer,')) {
          holding = false;
          for (const h of held.splice(0)) ws.send(h);
        }
      });
    });
    const nth = agent.assigned.length + 1;
    await open(page);
    await send(page, 'Hi over the socket');
    const assigned = await agent.nth(nth, 20_000);
    await expect
      .poll(() => heard(page), { timeout: 20_000 })
      .toEqual(
        expect.arrayContaining([
          expect.objectContaining({ type: 'ParticipantJoined', from: 'Agent' }),
          expect.objectContaining({ text: 'Hi over the socket' }),
        ]),
      );

    holding = true;
    const agentSeq = await reply(assigned.conversation.id, 'Reply streamed late');
    await expect.poll(() => held.length).toBeGreaterThan(0);
    await send(page, 'Then mine');
    await expect
      .poll(() => texts(page), { timeout: 15_000 })
      .toEqual(['Customer: Hi over the socket', 'Agent: Reply streamed late', 'Customer: Then mine']);
    expect(holding).toBe(false);
    await expectInOrder(page);
    const mine = (await heard(page)).find((m) => m.text === 'Then mine');
    expect(mine?.seq).toBe(agentSeq + 1);
    await done(assigned.conversation.id);
    await page.close();
  }, 90_000);

  it('through a reload: what waited for the stream is told after it, once and in order', async () => {
    const page = await browser.context.newPage();
    let holding = false;
    await page.routeWebSocket(SOCKET_URL, (ws: WebSocketRoute) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => server.send(m));
      // The stream's message frames never reach this page view while holding (the ack does).
      server.onMessage((m) => {
        if (holding && typeof m === 'string' && m.startsWith('42/consumer,["message"')) return;
        ws.send(m);
      });
    });
    const nth = agent.assigned.length + 1;
    await open(page);
    await send(page, 'Hi before the reload');
    const assigned = await agent.nth(nth, 20_000);
    await expect.poll(() => texts(page), { timeout: 20_000 }).toEqual(['Customer: Hi before the reload']);
    await expect
      .poll(async () => (await heard(page)).some((m) => m.type === 'ParticipantJoined' && m.from === 'Agent'))
      .toBe(true);

    holding = true;
    const agentSeq = await reply(assigned.conversation.id, 'Reply lost with the page');
    await send(page, 'Mine before the reload');
    await expect.poll(() => page.evaluate(() => (window as unknown as OrderWindow).outbox)).toBe(0);
    const before = await heard(page);
    holding = false;
    // Same tab, so the same saved chat (sessionStorage): the socket resumes from the seq it holds.
    await page.reload();
    await page.evaluate(
      ({ apiKey }) =>
        (window as unknown as OrderWindow).Nexus.init({ apiKey, endpoint: 'web', storage: 'session' }),
      { apiKey: tenant.widgetKey },
    );
    await expect
      .poll(async () => (await heard(page)).map((m) => m.text), { timeout: 15_000 })
      .toEqual(['Reply lost with the page', 'Mine before the reload']);
    const all = [...before, ...(await heard(page))];
    const seqs = all.map((m) => m.seq);
    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    expect(all.find((m) => m.text === 'Mine before the reload')?.seq).toBe(agentSeq + 1);
    await done(assigned.conversation.id);
    await page.close();
  }, 90_000);

  it("an agent who answers before the customer's first message is committed is heard first", async () => {
    const page = await browser.context.newPage();
    const release = gate();
    await page.routeWebSocket(SOCKET_URL, (ws: WebSocketRoute) => {
      const server = ws.connectToServer();
      server.onMessage((m) => ws.send(m));
      // In order: the customer's first send, and whatever follows it, waits (a slow page, a socket
      // still connecting) until the agent has written.
      let chain = Promise.resolve();
      ws.onMessage((m) => {
        chain = chain.then(async () => {
          if (typeof m === 'string' && /^42\/consumer,\d+\["message\.send"/.test(m)) await release.promise;
          server.send(m);
        });
      });
    });
    const nth = agent.assigned.length + 1;
    await open(page);
    await send(page, 'Hello from the site');
    const assigned = await agent.nth(nth, 20_000);
    const agentSeq = await reply(assigned.conversation.id, 'Hello Kim, how can I help?');
    release.open();
    await expect
      .poll(() => texts(page), { timeout: 15_000 })
      .toEqual(['Agent: Hello Kim, how can I help?', 'Customer: Hello from the site']);
    await expectInOrder(page);
    const mine = (await heard(page)).find((m) => m.text === 'Hello from the site');
    expect(mine?.seq).toBeGreaterThan(agentSeq);
    await done(assigned.conversation.id);
    await page.close();
  }, 90_000);
});
