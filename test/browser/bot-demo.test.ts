/**
 * A bot answering in the demo page, in real Chromium, set up the way docs/bots.md tells a bot
 * developer to: the all-in-one system (the gateway and athena in one process, athena the default AI
 * connector target, as `npm start` runs them), /ux/demo opened to learn the demo tenant from its
 * status line, a `Bot-<name>` Dialogflow CX bot provisioned with the admin token, the endpoint's
 * `bot` set, the page reloaded. The bot is the Dialogflow CX gRPC fake, driven by the real client
 * library. The customer types in the widget and reads the bot's reply and its quick replies; a
 * quick reply that CX answers with a live agent handoff puts the conversation in the agent console,
 * and from then on the bot is asked nothing and says nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Athena } from '../../src/bots/athena.js';
import { startAthenaWithNexus } from '../../src/bots/in-process.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { type DialogflowCxFake, startDialogflowCxFake } from '../fakes/google/dialogflow-cx.js';
import { toStruct } from '../fakes/google/grpc.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { buildBundles } from './build.js';
import { type Browser, launchChromium } from './chromium.js';
import { consoleTranscript, widgetTranscript } from './fixtures.js';

const GREETING = 'Hi, I am the Northwind assistant. What can I do for you?';
const CONNECTING = 'Connecting you to a person.';
const REASON = 'the customer asked for a person';

describe.each(engines())('a Dialogflow CX bot in the demo page (%s)', (engine) => {
  let t: TestNexus;
  let athena: Athena;
  let cx: DialogflowCxFake;
  let browser: Browser;

  beforeAll(async () => {
    t = await startNexus({ engine, nexus: { ux: { demo: 'on', assetsDir: buildBundles() } } });
    // As src/bin/all-in-one.ts starts it: athena next to the gateway, the default AI connector.
    const config = loadConfig({ env: {}, overrides: { athena: { port: 0, host: '127.0.0.1' } } }).athena;
    athena = await startAthenaWithNexus(
      t.nexus,
      config,
      createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    );
    cx = await startDialogflowCxFake((q) => {
      const text = (s: string) => ({ text: { text: [s] } });
      if (q.text === 'Talk to a person')
        return {
          queryResult: {
            responseMessages: [
              text(CONNECTING),
              { liveAgentHandoff: { metadata: toStruct({ reason: REASON }) } },
            ],
          },
        };
      if (/^hi\b/i.test(q.text))
        return {
          queryResult: {
            responseMessages: [
              // The custom payload docs/bots.md describes (read the same way for every provider).
              { payload: toStruct({ text: GREETING, quickReplies: ['Track my order', 'Talk to a person'] }) },
            ],
          },
        };
      return { queryResult: { responseMessages: [text(`CX heard "${q.text}"`)] } };
    });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await athena?.close();
    await cx?.close();
    await t?.cleanup();
  });

  it('answers the customer in the widget, with quick replies, and hands off to the agent console', async () => {
    const admin = { authorization: `Bearer ${t.adminToken}` };
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 1440, height: 940 });

    // docs/bots.md step 2: the status line names the demo tenant.
    await page.goto(`${t.url}/ux/demo`);
    const status = page.getByRole('status');
    await status.getByText(/Demo tenant Northwind Outfitters/).waitFor({ timeout: 20_000 });
    const line = (await status.textContent()) ?? '';
    const ccid = /\((demo-[0-9a-f]+)\)/.exec(line)?.[1];
    expect(ccid, line).toBeDefined();

    // Step 3: the bot, and the endpoint pointed at it (the Dialogflow CX example, at the fake).
    const bot = await api(t.url, 'PUT', `/nexus/v3/provisioning/services/${ccid}/Bot-helper`, {
      headers: admin,
      json: {
        data: {
          provider: 'DialogflowCX',
          projectId: 'northwind',
          location: 'global',
          agentId: 'agent-1',
          languageCode: 'en',
          nickname: 'Northwind assistant',
          apiEndpoint: `${cx.host}:${cx.port}`,
          plaintext: true,
        },
        secret: {
          type: 'service_account',
          project_id: 'northwind',
          client_email: 'athena@northwind.iam.gserviceaccount.com',
          private_key: 'not used without TLS',
        },
      },
    });
    expect(bot.status, JSON.stringify(bot.body)).toBeLessThan(300);
    const ep = await api(t.url, 'PUT', `/nexus/v3/provisioning/endpoints/${ccid}/web`, {
      headers: admin,
      json: { queue: 'support', bot: 'helper' },
    });
    expect(ep.status, JSON.stringify(ep.body)).toBeLessThan(300);

    // Step 4: reload, the agent goes Ready, the customer types in the widget.
    await page.reload();
    await status.getByText(new RegExp(`\\(${ccid}\\)`)).waitFor({ timeout: 20_000 });
    const agent = page.frameLocator('iframe[title^="Agent"]');
    await agent.locator('.conn[data-state="live"]').waitFor({ timeout: 20_000 });
    await agent.getByRole('switch').click();
    await agent.locator('[role="switch"][aria-checked="true"]').waitFor();

    const site = page.frameLocator('iframe[title^="Customer"]');
    await site.getByRole('button', { name: 'Chat with us' }).click();
    const box = site.getByRole('textbox', { name: 'Your message' });
    await box.fill('Hi there, I have a question');
    await box.press('Enter');

    // The bot's reply, as the bot, with its chips.
    await expect
      .poll(() => widgetTranscript(site), { timeout: 20_000 })
      .toEqual(['Hi there, I have a question', GREETING]);
    const widget = site.locator('[data-nexus-widget]');
    await expect
      .poll(() => widget.locator('li[data-seq]').last().locator('.who').textContent())
      .toBe('Northwind assistant');
    const chips = widget.locator('li.replies button');
    await expect.poll(() => chips.allTextContents()).toEqual(['Track my order', 'Talk to a person']);
    const conversationId = cx.requests[0]?.session.split('/sessions/')[1] as string;
    expect(cx.requests.map((r) => r.session)).toEqual([
      `projects/northwind/locations/global/agents/agent-1/sessions/${conversationId}`,
    ]);
    // While the bot has the conversation, the agent is not offered it.
    expect(await consoleTranscript(agent)).toEqual([]);

    // The chip: CX hands off, the conversation reaches the agent console with the reason.
    await chips.getByText('Talk to a person').click();
    await expect
      .poll(() => consoleTranscript(agent), { timeout: 20_000 })
      .toEqual(expect.arrayContaining(['Hi there, I have a question', GREETING, 'Talk to a person']));
    await agent.getByText(`handoff: ${REASON}`).waitFor({ timeout: 20_000 });
    await expect
      .poll(() => widgetTranscript(site), { timeout: 20_000 })
      .toEqual(['Hi there, I have a question', GREETING, 'Talk to a person', CONNECTING]);
    const state = await t.nexus.db.query('SELECT state, agent_id, queue FROM conversations WHERE id = $1', [
      conversationId,
    ]);
    expect(state.rows).toEqual([{ state: 'assigned', agent_id: 'alex', queue: 'support' }]);

    // The agent has it now: the customer's next words reach the agent, and the bot keeps quiet.
    await box.fill('Are you a person?');
    await box.press('Enter');
    await expect.poll(() => consoleTranscript(agent), { timeout: 20_000 }).toContain('Are you a person?');
    const reply = agent.getByRole('textbox', { name: 'Reply to the customer' });
    await reply.fill('Yes, Alex here. How can I help?');
    await reply.press('Enter');
    await expect
      .poll(() => widgetTranscript(site), { timeout: 20_000 })
      .toEqual([
        'Hi there, I have a question',
        GREETING,
        'Talk to a person',
        CONNECTING,
        'Are you a person?',
        'Yes, Alex here. How can I help?',
      ]);
    // The gateway plans AI connector deliveries in the transaction that commits a message: with an
    // agent on it (and no agent assist), the customer's words went nowhere near athena, and nothing
    // for athena is still pending that could make the bot speak later.
    const outbox = await t.nexus.db.query(
      `SELECT state, payload::text LIKE '%Are you a person?%' AS later FROM outbox WHERE ccid = $1`,
      [ccid],
    );
    expect(outbox.rows.filter((r) => r.later || r.state !== 'done')).toEqual([]);
    expect(outbox.rows.length).toBe(2);
    expect(cx.requests.map((r) => r.queryInput.text?.text)).toEqual([
      'Hi there, I have a question',
      'Talk to a person',
    ]);
    const bots = await t.nexus.db.query(
      `SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1 AND from_type = 'Bot'`,
      [conversationId],
    );
    expect(bots.rows[0].n).toBe(2);
    await page.close();
  }, 120_000);
});
