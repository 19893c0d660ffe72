/**
 * Dialogflow ES, Lex V2 and the webhook bot answering in the demo page, in real Chromium, each set
 * up the way docs/bots.md tells a bot developer to: the all-in-one system (gateway and athena in
 * one process, athena the default AI connector target, as `npm start` runs them), /ux/demo opened
 * to learn the demo tenant from its status line, a `Bot-<name>` provisioned with the admin token
 * from the guide's example for that provider (pointed at a fake by the documented `apiEndpoint` /
 * `port` / `plaintext` or `endpoint` settings), and the endpoint's `bot` set to it. One browser,
 * one page and one gateway for all three; between providers the customer ends the chat, so the
 * next one starts on the endpoint's new bot.
 *
 * The bots are the Dialogflow ES gRPC fake and the Lex V2 HTTP/2 fake (which refuses any request
 * whose SigV4 signature does not verify), driven by the real client libraries, and a Rasa REST
 * webhook bot on port 0. In each, the customer reads the bot's text and its quick replies or
 * buttons, and a chosen one shows the customer's words (its title) while the bot gets its payload.
 * The webhook bot then hands off, and with agent assist on, its suggestions reach the agent only;
 * the agent edits one and the feedback recorded is the reply the agent actually sent.
 */
import type { FrameLocator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Athena } from '../../src/bots/athena.js';
import { startAthenaWithNexus } from '../../src/bots/in-process.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { FakeRasa } from '../athena/helpers.js';
import { type LexFake, startLexFake } from '../fakes/aws/lex-v2.js';
import { type DialogflowEsFake, startDialogflowEsFake } from '../fakes/google/dialogflow-es.js';
import { toStruct } from '../fakes/google/grpc.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { buildBundles } from './build.js';
import { type Browser, launchChromium } from './chromium.js';
import { consoleTranscript, widgetTranscript } from './fixtures.js';

const LEX_KEYS = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const LEX_BOT = { botId: 'ABCDEFGHIJ', botAliasId: 'TSTALIASID', localeId: 'en_US' };

describe.each(engines())('Dialogflow ES, Lex V2 and webhook bots in the demo page (%s)', (engine) => {
  let t: TestNexus;
  let athena: Athena;
  let es: DialogflowEsFake;
  let lex: LexFake;
  let rasa: FakeRasa;
  let browser: Browser;
  let page: Page;
  let ccid: string;
  let site: FrameLocator;
  let agent: FrameLocator;

  beforeAll(async () => {
    t = await startNexus({ engine, nexus: { ux: { demo: 'on', assetsDir: buildBundles() } } });
    // As src/bin/all-in-one.ts starts it: athena next to the gateway, the default AI connector.
    const config = loadConfig({ env: {}, overrides: { athena: { port: 0, host: '127.0.0.1' } } }).athena;
    athena = await startAthenaWithNexus(
      t.nexus,
      config,
      createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    );
    [es, lex, rasa, browser] = await Promise.all([
      startDialogflowEsFake(esScript),
      startLexFake({ keys: LEX_KEYS, region: 'eu-west-1', bot: LEX_BOT, script: lexScript }),
      FakeRasa.start(),
      launchChromium(),
    ]);
    rasa.script = rasaScript;

    page = await browser.context.newPage();
    await page.setViewportSize({ width: 1440, height: 940 });
    // docs/bots.md step 2: the status line names the demo tenant.
    await page.goto(`${t.url}/ux/demo`);
    const status = page.getByRole('status');
    await status.getByText(/Demo tenant Northwind Outfitters/).waitFor({ timeout: 20_000 });
    const line = (await status.textContent()) ?? '';
    ccid = /\((demo-[0-9a-f]+)\)/.exec(line)?.[1] as string;
    expect(ccid, line).toBeDefined();
    agent = page.frameLocator('iframe[title^="Agent"]');
    site = page.frameLocator('iframe[title^="Customer"]');
    await agent.locator('.conn[data-state="live"]').waitFor({ timeout: 20_000 });
    await agent.getByRole('switch').click();
    await agent.locator('[role="switch"][aria-checked="true"]').waitFor();
    await site.getByRole('button', { name: 'Chat with us' }).click();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await athena?.close();
    await es?.close();
    await lex?.close();
    await rasa?.close();
    await t?.cleanup();
  });

  const admin = () => ({ authorization: `Bearer ${t.adminToken}` });

  /** docs/bots.md step 3: the bot, and the endpoint pointed at it. */
  const connectBot = async (name: string, service: Record<string, unknown>) => {
    const bot = await api(t.url, 'PUT', `/nexus/v3/provisioning/services/${ccid}/Bot-${name}`, {
      headers: admin(),
      json: service,
    });
    expect(bot.status, JSON.stringify(bot.body)).toBeLessThan(300);
    const ep = await api(t.url, 'PUT', `/nexus/v3/provisioning/endpoints/${ccid}/web`, {
      headers: admin(),
      json: { queue: 'support', bot: name },
    });
    expect(ep.status, JSON.stringify(ep.body)).toBeLessThan(300);
  };

  /** A chat keeps the bot it started with: the customer ends the one open, and the next is new. */
  const newChat = async () => {
    const end = site.getByRole('button', { name: 'End chat' });
    if (await end.isVisible()) {
      await end.click();
      await site.locator('[data-nexus-widget] .status[data-state="ended"]').waitFor({ timeout: 20_000 });
    }
  };

  const box = () => site.getByRole('textbox', { name: 'Your message' });
  const say = async (text: string) => {
    await box().fill(text);
    await box().press('Enter');
  };
  const widget = () => site.locator('[data-nexus-widget]');
  const chips = () => widget().locator('li.replies button');
  const transcript = () => widgetTranscript(site);
  const conversationOf = async (text: string): Promise<string> => {
    const r = await t.nexus.db.query(
      `SELECT m.conversation_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
        WHERE c.ccid = $1 AND m.text = $2 AND m.from_type = 'Customer'`,
      [ccid, text],
    );
    expect(r.rows.length).toBe(1);
    return r.rows[0].conversation_id;
  };
  /** The customer's message as stored: what people read, and what went to the bot with it. */
  const stored = async (conversationId: string, text: string) => {
    const r = await t.nexus.db.query(
      `SELECT text, content FROM messages WHERE conversation_id = $1 AND from_type = 'Customer' AND text = $2`,
      [conversationId, text],
    );
    return r.rows;
  };

  it('a Dialogflow ES bot answers with text and quick replies; a chosen one reads as its title and ES gets its payload', async () => {
    await connectBot('es-helper', {
      data: {
        provider: 'DialogflowES',
        projectId: 'northwind',
        languageCode: 'en',
        handoffIntents: ['human'],
        nickname: 'Northwind ES',
        apiEndpoint: es.host,
        port: es.port,
        plaintext: true,
      },
      secret: {
        type: 'service_account',
        client_email: 'athena@northwind.iam.gserviceaccount.com',
        private_key: 'not used without TLS',
      },
    });
    await newChat();
    await say('Hi, are you open on Sundays?');

    // ES's own quick replies message: its title as text, its replies as chips.
    await expect
      .poll(transcript, { timeout: 20_000 })
      .toEqual(['Hi, are you open on Sundays?', ES_GREETING, 'Pick a topic']);
    await expect.poll(() => chips().allTextContents()).toEqual(['Opening hours', 'Returns']);
    expect(await widget().locator('li[data-seq]').last().locator('.who').textContent()).toBe('Northwind ES');

    // An ES quick reply has no payload: its title is what ES gets.
    await chips().getByText('Opening hours').click();
    // A custom payload of only quick replies: chips, and no text fallback next to them.
    await expect
      .poll(() => chips().allTextContents(), { timeout: 20_000 })
      .toEqual(['Find a store', 'No, thanks']);
    expect(await transcript()).toEqual([
      'Hi, are you open on Sundays?',
      ES_GREETING,
      'Pick a topic',
      'Opening hours',
    ]);
    await expect(widget().textContent()).resolves.not.toMatch(/1\) Find a store/);

    await chips().getByText('Find a store').click();
    await expect
      .poll(transcript, { timeout: 20_000 })
      .toEqual([
        'Hi, are you open on Sundays?',
        ES_GREETING,
        'Pick a topic',
        'Opening hours',
        'Find a store',
        'The nearest store is on Main Street, open 9 to 6.',
      ]);

    const conversationId = await conversationOf('Hi, are you open on Sundays?');
    expect(
      es.requests.map((r) => [r.session, r.queryInput.text?.text, r.queryInput.text?.languageCode]),
    ).toEqual([
      [`projects/northwind/agent/sessions/${conversationId}`, 'Hi, are you open on Sundays?', 'en'],
      [`projects/northwind/agent/sessions/${conversationId}`, 'Opening hours', 'en'],
      [`projects/northwind/agent/sessions/${conversationId}`, 'FIND_STORE', 'en'],
    ]);
    expect(await stored(conversationId, 'Find a store')).toEqual([
      { text: 'Find a store', content: { payload: 'FIND_STORE' } },
    ]);
  }, 120_000);

  it('a Lex V2 bot answers with text and a response card; a button reads as its text and Lex gets its value', async () => {
    await connectBot('lex-helper', {
      data: {
        provider: 'LexV2',
        ...LEX_BOT,
        region: 'eu-west-1',
        handoffIntents: ['TalkToAgent'],
        nickname: 'Northwind Lex',
        endpoint: lex.url,
      },
      secret: LEX_KEYS,
    });
    await newChat();
    await say('Hello, where is my parcel?');

    await expect.poll(transcript, { timeout: 20_000 }).toEqual(['Hello, where is my parcel?', LEX_GREETING]);
    // The ImageResponseCard: a card with its title and buttons.
    const card = widget().locator('.card');
    await expect
      .poll(() => card.locator('.card-title').allTextContents())
      .toEqual(['What would you like to do?']);
    await expect
      .poll(() => card.getByRole('button').allTextContents())
      .toEqual(['Track my parcel', 'Opening hours']);

    await card.getByRole('button', { name: 'Track my parcel' }).click();
    await expect
      .poll(transcript, { timeout: 20_000 })
      .toEqual([
        'Hello, where is my parcel?',
        LEX_GREETING,
        'Track my parcel',
        'Parcel 1001 ships tomorrow.',
      ]);
    // A CustomPayload of quick replies, read as for every provider.
    await expect.poll(() => chips().allTextContents()).toEqual(['Thanks!']);
    await chips().getByText('Thanks!').click();
    await expect.poll(transcript, { timeout: 20_000 }).toContain('You are welcome. Anything else?');

    const conversationId = await conversationOf('Hello, where is my parcel?');
    // Every call was signed with the bot's keys (the fake refuses any other), on the bot's session.
    expect(lex.requests.map((r) => r.refused)).toEqual([undefined, undefined, undefined]);
    expect(lex.requests.map((r) => [r.query?.sessionId, r.query?.text])).toEqual([
      [conversationId, 'Hello, where is my parcel?'],
      [conversationId, 'TrackParcel'],
      [conversationId, 'THANKS'],
    ]);
    expect(lex.requests[0].url).toBe(
      `/bots/ABCDEFGHIJ/botAliases/TSTALIASID/botLocales/en_US/sessions/${conversationId}/text`,
    );
    expect(lex.requests[0].query?.requestAttributes).toMatchObject({ mode: 'bot', endpoint: 'web' });
    expect(await stored(conversationId, 'Track my parcel')).toEqual([
      { text: 'Track my parcel', content: { payload: 'TrackParcel' } },
    ]);
  }, 120_000);

  it('a webhook bot answers with buttons, hands off, and its agent-assist suggestion is recorded as the agent sent it', async () => {
    await connectBot('rasa-helper', {
      url: rasa.url,
      data: { provider: 'Webhook', agentAssist: true, nickname: 'Northwind Rasa' },
    });
    await newChat();
    await say('Hello');

    await expect.poll(transcript, { timeout: 20_000 }).toEqual(['Hello', RASA_GREETING]);
    await expect.poll(() => chips().allTextContents()).toEqual(['Where is my order?', 'Talk to a person']);
    await chips().getByText('Where is my order?').click();

    // The bot's answer is buttons only: chips, no text fallback.
    await expect
      .poll(() => chips().allTextContents(), { timeout: 20_000 })
      .toEqual(['Order 1001', 'Talk to a person']);
    expect(await transcript()).toEqual(['Hello', RASA_GREETING, 'Where is my order?']);
    await expect(widget().textContent()).resolves.not.toMatch(/1\) Order 1001/);

    // Handoff: the agent reads the chip's title, never its payload.
    await chips().getByText('Talk to a person').click();
    await expect
      .poll(() => consoleTranscript(agent), { timeout: 20_000 })
      .toEqual(expect.arrayContaining(['Hello', RASA_GREETING, 'Where is my order?', 'Talk to a person']));
    await agent.getByText('handoff: the customer asked for a person').waitFor({ timeout: 20_000 });
    await agent.getByText('Offered: Order 1001 · Talk to a person').waitFor();
    expect((await consoleTranscript(agent)).join('\n')).not.toMatch(/\/handoff|\/order_status/);
    await expect
      .poll(transcript, { timeout: 20_000 })
      .toEqual([
        'Hello',
        RASA_GREETING,
        'Where is my order?',
        'Talk to a person',
        'Connecting you to a person.',
      ]);
    expect(rasa.calls.map((c) => [c.message, c.metadata.mode])).toEqual([
      ['Hello', 'bot'],
      ['/order_status', 'bot'],
      ['/handoff', 'bot'],
    ]);
    const conversationId = await conversationOf('Hello');
    expect(new Set(rasa.calls.map((c) => c.sender))).toEqual(new Set([conversationId]));

    // Agent assist: the customer's next words become suggestions, in the console only.
    await say('Can I change the delivery address?');
    const suggestions = agent.getByRole('region', { name: 'Suggested replies' });
    await expect
      .poll(() => suggestions.locator('.suggestion p').allTextContents(), { timeout: 20_000 })
      .toEqual([SUGGEST_1, SUGGEST_2]);
    const reply = agent.getByRole('textbox', { name: 'Reply to the customer' });
    // Edit one, then empty the composer and write something else: that suggestion was discarded.
    await suggestions
      .locator('.suggestion', { hasText: SUGGEST_1 })
      .getByRole('button', { name: 'Edit' })
      .click();
    await expect(reply.inputValue()).resolves.toBe(SUGGEST_1);
    await reply.fill('');
    await reply.fill('One moment, please.');
    await reply.press('Enter');
    // Edit the other, change it, send it.
    await suggestions
      .locator('.suggestion', { hasText: SUGGEST_2 })
      .getByRole('button', { name: 'Edit' })
      .click();
    await expect(reply.inputValue()).resolves.toBe(SUGGEST_2);
    await reply.fill(EDITED);
    await reply.press('Enter');
    await expect
      .poll(transcript, { timeout: 20_000 })
      .toEqual([
        'Hello',
        RASA_GREETING,
        'Where is my order?',
        'Talk to a person',
        'Connecting you to a person.',
        'Can I change the delivery address?',
        'One moment, please.',
        EDITED,
      ]);

    // The feedback is the reply as sent; nothing for the discarded one.
    const offered = await t.nexus.db.query(
      'SELECT id::text, text FROM suggestions WHERE conversation_id = $1 ORDER BY text',
      [conversationId],
    );
    expect(offered.rows.map((r) => r.text)).toEqual([SUGGEST_2, SUGGEST_1].sort());
    const idOf = (text: string) => offered.rows.find((r) => r.text === text)?.id;
    await expect
      .poll(
        async () =>
          (
            await t.nexus.db.query(
              'SELECT suggestion_id, action, text, agent_id FROM suggestion_feedback WHERE ccid = $1',
              [ccid],
            )
          ).rows,
        { timeout: 20_000 },
      )
      .toEqual([{ suggestion_id: idOf(SUGGEST_2), action: 'edited', text: EDITED, agent_id: 'alex' }]);
    expect(rasa.calls.at(-1)).toMatchObject({
      message: 'Can I change the delivery address?',
      metadata: { mode: 'assist' },
    });

    // Edited and sent unchanged: the suggestion was used as offered.
    await say('And the billing address?');
    await expect
      .poll(() => suggestions.locator('.suggestion p').allTextContents(), { timeout: 20_000 })
      .toEqual([SUGGEST_3]);
    await suggestions.getByRole('button', { name: 'Edit' }).click();
    await expect(reply.inputValue()).resolves.toBe(SUGGEST_3);
    await reply.press('Enter');
    await expect.poll(transcript, { timeout: 20_000 }).toContain(SUGGEST_3);
    const third = await t.nexus.db.query(
      'SELECT id::text FROM suggestions WHERE conversation_id = $1 AND text = $2',
      [conversationId, SUGGEST_3],
    );
    await expect
      .poll(
        async () =>
          (
            await t.nexus.db.query(
              'SELECT suggestion_id, action, text FROM suggestion_feedback WHERE ccid = $1 ORDER BY created_at',
              [ccid],
            )
          ).rows,
        { timeout: 20_000 },
      )
      .toEqual([
        { suggestion_id: idOf(SUGGEST_2), action: 'edited', text: EDITED },
        { suggestion_id: third.rows[0].id, action: 'used', text: null },
      ]);
    // Suggestions never reached the customer's widget.
    expect((await transcript()).filter((m) => m === SUGGEST_1 || m === SUGGEST_2)).toEqual([]);
    // The bot stayed silent to the customer after the handoff.
    const bots = await t.nexus.db.query(
      `SELECT text FROM messages WHERE conversation_id = $1 AND from_type = 'Bot' ORDER BY seq`,
      [conversationId],
    );
    expect(bots.rows.map((r) => r.text)).toEqual([RASA_GREETING, null, 'Connecting you to a person.']);
  }, 120_000);

  it('in limited mode (no socket, the REST fallback) a chosen chip still reads as its title and the bot gets its payload', async () => {
    // The endpoint still names the webhook bot. A new chat whose socket cannot connect: the widget
    // falls back to REST (the console's socket, already open, is left alone).
    await newChat();
    const socketUrl = /\/chat\/v3\/socket\.io\//;
    await browser.context.route(socketUrl, (r) => r.abort());
    await browser.context.routeWebSocket(socketUrl, (ws) => ws.close());
    try {
      // The customer's frame reloaded under the routes (a WebSocket route holds for documents loaded after it).
      const frame = await (await page.locator('iframe[title^="Customer"]').elementHandle())?.contentFrame();
      expect(frame).toBeTruthy();
      await frame!.goto(frame!.url());
      if (!(await box().isVisible())) await site.getByRole('button', { name: 'Chat with us' }).click();
      await say('Hello over REST');
      await expect
        .poll(() => widget().locator('.status').getAttribute('data-state'), { timeout: 20_000 })
        .toBe('polling');
      await expect.poll(transcript, { timeout: 20_000 }).toEqual(['Hello over REST', RASA_GREETING]);
      await expect.poll(() => chips().allTextContents()).toEqual(['Where is my order?', 'Talk to a person']);
      await chips().getByText('Where is my order?').click();
      await expect
        .poll(() => chips().allTextContents(), { timeout: 20_000 })
        .toEqual(['Order 1001', 'Talk to a person']);
      expect(await transcript()).toEqual(['Hello over REST', RASA_GREETING, 'Where is my order?']);
      expect(await widget().locator('.status').getAttribute('data-state')).toBe('polling');
    } finally {
      await browser.context.unrouteAll();
    }
    const conversationId = await conversationOf('Hello over REST');
    expect(await stored(conversationId, 'Where is my order?')).toEqual([
      { text: 'Where is my order?', content: { payload: '/order_status' } },
    ]);
    expect(rasa.calls.filter((c) => c.sender === conversationId).map((c) => c.message)).toEqual([
      'Hello over REST',
      '/order_status',
    ]);
  }, 120_000);
});

const ES_GREETING = 'Hello from Northwind! We are here to help.';
const LEX_GREETING = 'Hi, I am the Northwind parcel assistant.';
const RASA_GREETING = 'Hi! I can help with your orders.';
const SUGGEST_1 = 'Yes, until the parcel ships you can change it in your account.';
const SUGGEST_2 = 'Let me change it for you: what is the new address?';
const SUGGEST_3 = 'The billing address is changed under Account, Payment.';
const EDITED = 'Let me change it for you: what is the new street address and postcode?';

function esScript(q: { text: string }) {
  const text = (s: string) => ({ text: { text: [s] } });
  if (q.text === 'Opening hours')
    return {
      queryResult: {
        fulfillmentMessages: [
          {
            payload: toStruct({
              quickReplies: [{ text: 'Find a store', payload: 'FIND_STORE' }, 'No, thanks'],
            }),
          },
        ],
      },
    };
  if (q.text === 'FIND_STORE')
    return {
      queryResult: { fulfillmentMessages: [text('The nearest store is on Main Street, open 9 to 6.')] },
    };
  return {
    queryResult: {
      intent: { displayName: 'welcome' },
      fulfillmentMessages: [
        text(ES_GREETING),
        { quickReplies: { title: 'Pick a topic', quickReplies: ['Opening hours', 'Returns'] } },
      ],
    },
  };
}

function lexScript(q: { text: string }) {
  const plain = (content: string) => ({ contentType: 'PlainText', content });
  if (q.text === 'TrackParcel')
    return {
      messages: [
        plain('Parcel 1001 ships tomorrow.'),
        {
          contentType: 'CustomPayload',
          content: JSON.stringify({ quickReplies: [{ text: 'Thanks!', payload: 'THANKS' }] }),
        },
      ],
      sessionState: { intent: { name: 'TrackParcel', state: 'Fulfilled' }, dialogAction: { type: 'Close' } },
    };
  if (q.text === 'THANKS') return { messages: [plain('You are welcome. Anything else?')] };
  return {
    messages: [
      plain(LEX_GREETING),
      {
        contentType: 'ImageResponseCard',
        imageResponseCard: {
          title: 'What would you like to do?',
          buttons: [
            { text: 'Track my parcel', value: 'TrackParcel' },
            { text: 'Opening hours', value: 'OpeningHours' },
          ],
        },
      },
    ],
  };
}

function rasaScript(c: { message: string; metadata: Record<string, unknown> }) {
  if (c.metadata?.mode === 'assist')
    return /billing/.test(c.message)
      ? { body: [{ text: SUGGEST_3 }] }
      : { body: [{ text: SUGGEST_1 }, { text: SUGGEST_2 }] };
  if (c.message === '/order_status')
    return {
      body: [
        {
          buttons: [
            { title: 'Order 1001', payload: '/order{"id":"1001"}' },
            { title: 'Talk to a person', payload: '/handoff' },
          ],
        },
      ],
    };
  if (c.message === '/handoff')
    return {
      body: [
        { text: 'Connecting you to a person.' },
        { custom: { handoff: { reason: 'the customer asked for a person' } } },
      ],
    };
  return {
    body: [
      {
        text: RASA_GREETING,
        buttons: [
          { title: 'Where is my order?', payload: '/order_status' },
          { title: 'Talk to a person', payload: '/handoff' },
        ],
      },
    ],
  };
}
